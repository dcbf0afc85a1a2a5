"""Typed reads of string settings that collect every problem instead of stopping at the first."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from ..errors import Problem

_HOSTNAME_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_NUMBER = re.compile(r"[0-9]{1,10}")
_SIZE = re.compile(r"^[1-9][0-9]*[kmg]$")


def is_hostname(name: str) -> bool:
    """A DNS name of at least two labels, each letters, digits and inner hyphens."""
    labels = name.lower().rstrip(".").split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(map(_HOSTNAME_LABEL.match, labels))


def is_size(value: str) -> bool:
    """A memory size as Docker writes it: a number and k, m or g."""
    return bool(_SIZE.match(value))


def is_number(value: str) -> bool:
    """ASCII digits only (int() would also take '²' or '٣'), at most 10 of them."""
    return bool(_NUMBER.fullmatch(value))


def is_port(value: str) -> bool:
    return is_number(value) and 0 < int(value) < 65536


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


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
        return value

    def listing(self, key: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.text(key).split(",") if item.strip())

    def https_url(self, key: str) -> tuple[str, str]:
        """The URL without a trailing slash and its host name."""
        value = self.required(key, "https://meet.example.org")
        if not value:
            return "", ""
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not is_hostname(host) or parts.path not in ("", "/"):
            self.fail(
                key,
                f"{value!r} is not an https URL with a valid host name. "
                "Set the full public address, e.g. https://meet.example.org",
            )
        return value.rstrip("/"), host

    def hostname(self, key: str, example: str) -> str:
        value = self.required(key, example).lower()
        if value and not is_hostname(value):
            self.fail(key, f"{value!r} is not a valid host name, e.g. {example}.")
        return value

    def email(self, key: str) -> str:
        value = self.required(key, "admin@example.org")
        if value and not _EMAIL.match(value):
            self.fail(key, f"{value!r} is not an e-mail address, e.g. admin@example.org.")
        return value

    def networks(self, key: str) -> tuple[str, ...]:
        networks = []
        for item in self.listing(key):
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                self.fail(key, f"{item!r} is not an IP network. Write CIDRs, e.g. 192.0.2.0/24.")
        return tuple(networks)
