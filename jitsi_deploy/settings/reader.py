"""Typed reads of string settings that collect every problem instead of stopping at the first."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, urlsplit

from ..errors import Problem

_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?")
_SIZE = re.compile(r"^[1-9][0-9]{0,19}[kmg]$")
MAX_SIZE_MIB = 1024 * 1024  # 1024g: more than any host this runs on
_IMAGE_PATH = re.compile(
    r"(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::([0-9]{1,5}))?/)?"  # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MOVING_TAGS = ("latest", "stable", "unstable", "nightly", "edge", "main", "master")
_NUMBER = re.compile(r"[0-9]{1,10}")


def is_hostname(name: str) -> bool:
    """A DNS name of at least two labels, each ASCII letters, digits and inner hyphens; no
    trailing dot (nginx, certificates and browsers would each treat it as another name) and
    no compatibility character that lower-cases to ASCII (the Kelvin sign K is not k)."""
    labels = name.lower().split(".")
    return (
        name.isascii()
        and len(name) <= 253
        and len(labels) >= 2
        and all(map(_HOSTNAME_LABEL.match, labels))
    )


def split_url(value: str) -> SplitResult | None:
    """The URL's parts, or None where urlsplit raises (an unclosed '[', a netloc that NFKC
    normalization changes, such as a full-width number sign) or the port is not a number."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number or above 65535
    except ValueError:
        return None
    return parts


def is_size(value: str) -> bool:
    """A memory size as Docker writes it: a number and k, m or g, at most 1024g."""
    return bool(_SIZE.match(value)) and size_mib(value) <= MAX_SIZE_MIB


def size_mib(size: str) -> int:
    """``512m`` / ``3g`` / ``1048576k`` in MiB."""
    number, unit = int(size[:-1]), size[-1].lower()
    return {"k": number // 1024, "m": number, "g": number * 1024}[unit]


def is_image_path(value: str) -> bool:
    """A registry path as Docker reads it: [host[:port]/]name[/name...], lower case, the port
    from 1 to 65535."""
    match = _IMAGE_PATH.fullmatch(value)
    port = match.group(1) if match else None
    return len(value) <= 255 and bool(match) and (port is None or is_port(port))


def is_image_tag(value: str) -> bool:
    return bool(_IMAGE_TAG.fullmatch(value))


def is_number(value: str) -> bool:
    """ASCII digits only (int() would also take '²' or '٣'), at most 10 of them."""
    return bool(_NUMBER.fullmatch(value))


def is_port(value: str) -> bool:
    return is_number(value) and 0 < int(value) < 65536


def is_email(value: str) -> bool:
    local, _, domain = value.rpartition("@")
    return bool(_EMAIL_LOCAL.fullmatch(local)) and is_hostname(domain)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_NOT_A_URL = (
    "cannot be read as a URL (an unclosed '[', a character outside ASCII in the host such as "
    "a full-width '\uff03', or a port that is not a number). Write it in plain ASCII,"
)


def _dot_hint(name: str) -> str:
    """Why a name that looks right is refused: its trailing dot or a look-alike character."""
    if name.endswith("."):
        return " Leave out the trailing dot."
    odd = [c for c in name if not c.isascii()]
    return f" {odd[0]!r} (U+{ord(odd[0]):04X}) is not ASCII: type it plainly." if odd else ""


def _url_host(parts: SplitResult) -> str:
    """The host as written (hostname lower-cases, and would let a Kelvin sign pass as k)."""
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def suggest(name: str, known: Iterable[str]) -> str:
    """' Did you mean X?' for a near miss, else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]}?" if close else ""


class Reader:
    """Reads keys from ``values``; each bad value is recorded as a Problem against its source.

    ``sources`` names where a key came from (a file, or an inventory line for an override), so
    every message points at the place to fix.
    """

    def __init__(self, values: Mapping[str, str], sources: Mapping[str, str]) -> None:
        self.values = values
        self.sources = sources
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.sources.get(key, ".env"), key, message))

    def text(self, key: str) -> str:
        return self.values.get(key, "").strip()

    def required(self, key: str, example: str) -> str:
        value = self.text(key)
        if not value:
            self.fail(key, f"is required but empty or missing. Set it, e.g. {key}={example}")
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key).lower()
        if value not in choices:
            self.fail(key, f"{value!r} is not one of {', '.join(choices)}.")
            return choices[0]
        return value

    def flag(self, key: str) -> bool:
        value = self.text(key).lower()
        if value not in ("0", "1", "true", "false", "yes", "no"):
            self.fail(key, f"{value!r} is not a switch. Use 1 (on) or 0 (off).")
        return value in ("1", "true", "yes")

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        value = self.text(key)
        if not is_number(value) or not minimum <= int(value) <= maximum:
            self.fail(key, f"{value!r} is not a whole number from {minimum} to {maximum}.")
            return minimum
        return int(value)

    def size(self, key: str) -> str:
        value = self.text(key).lower()
        if not _SIZE.match(value):
            self.fail(key, f"{value!r} is not a size. Write a number and k, m or g, e.g. 512m.")
        elif not is_size(value):
            self.fail(key, f"{value!r} is more than 1024g. Write the limit the host can give.")
        return value

    def listing(self, key: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.text(key).split(",") if item.strip())

    def https_url(self, key: str) -> tuple[str, str]:
        """The URL without a trailing slash and its host name."""
        value = self.required(key, "https://meet.example.org")
        if not value:
            return "", ""
        parts = split_url(value)
        if parts is None or not parts.netloc.isascii():
            self.fail(key, f"{value!r} {_NOT_A_URL} e.g. https://meet.example.org")
            return value.rstrip("/"), ""
        host = (parts.hostname or "").lower()
        if "@" in parts.netloc:
            self.fail(key, "holds a user name or password (user:pw@). Remove them from the URL.")
            return value.rstrip("/"), host
        if (
            parts.scheme != "https"
            or not is_hostname(host)
            or parts.netloc.lower() != host
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            hint = _dot_hint(parts.netloc)
            self.fail(
                key,
                f"{value!r} is not an https URL with a valid host name. "
                "Set the full public address, e.g. https://meet.example.org"
                + (f".{hint}" if hint else ""),
            )
        return value.rstrip("/"), host

    def hostname(self, key: str, example: str) -> str:
        value = self.required(key, example)
        if value and not is_hostname(value):
            self.fail(key, f"{value!r} is not a valid host name, e.g. {example}.{_dot_hint(value)}")
        return value.lower()

    def url(self, key: str, schemes: tuple[str, ...], example: str, bare: bool = False) -> str:
        """An optional URL of one of ``schemes`` with a host name or IP (and a port from 1 to
        65535), no user name or password, with ``bare`` no query or fragment; "" when unset."""
        value = self.text(key)
        if not value:
            return ""
        parts = split_url(value)
        if parts is None or not parts.netloc.isascii():
            self.fail(key, f"{value!r} {_NOT_A_URL} e.g. {example}.")
            return value
        host = _url_host(parts)
        ok = parts.scheme in schemes and (is_hostname(host) or is_ip(host))
        if "@" in parts.netloc:
            self.fail(key, "holds a user name or password (user:pw@). Remove them from the URL.")
        elif parts.port == 0 or (parts.netloc.endswith(":") and host):
            self.fail(key, f"{value!r} has no valid port. Give one from 1 to 65535, or none.")
        elif bare and (parts.query or parts.fragment or "?" in value or "#" in value):
            self.fail(
                key, f"{value!r} has a query or fragment ('?', '#'). Remove it, e.g. {example}."
            )
        elif not ok or re.search(r"[\s\"'\\<>`]", value):
            names = " or ".join(schemes)
            self.fail(
                key,
                f"{value!r} is not an {names} URL with a host name, e.g. {example}."
                + _dot_hint(host),
            )
        return value

    def image_path(self, key: str, example: str) -> str:
        value = self.required(key, example)
        if value and not is_image_path(value):
            self.fail(
                key,
                f"{value!r} is not an image path. Write [registry/]name in lower-case letters, "
                f"digits, '.', '_', '-' and '/' (a registry port from 1 to 65535), e.g. {example}.",
            )
        return value

    def image_tag(self, key: str, value: str, example: str) -> None:
        """Refuse a tag outside Docker's grammar, or a moving one like latest."""
        if not is_image_tag(value):
            self.fail(
                key,
                f"{value!r} is not an image tag. Use letters, digits, '_', '.' and '-', "
                f"e.g. {example}.",
            )
        elif value.lower() in MOVING_TAGS:
            self.fail(key, f"{value!r} is a moving tag. Pin a release, e.g. {example}.")

    def email(self, key: str) -> str:
        value = self.required(key, "admin@example.org")
        if value and not is_email(value):
            self.fail(key, f"{value!r} is not an e-mail address, e.g. admin@example.org.")
        return value

    def networks(self, key: str) -> tuple[str, ...]:
        networks = []
        for item in self.listing(key):
            if "%" in item:
                self.fail(
                    key,
                    f"{item!r} names an interface zone (%...), which nginx and Docker do not "
                    "take in a network. Write the network without it, e.g. fe80::/64.",
                )
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                self.fail(key, f"{item!r} is not an IP network. Write CIDRs, e.g. 192.0.2.0/24.")
        return tuple(networks)
