"""The inventory: which hosts to deploy, how to reach them, and what role each plays.

The format is the INI inventory most deploy tools read: ``[core]`` and ``[jvb]`` groups of
``name key=value ...`` lines, and ``[all:vars]`` / ``[GROUP:vars]`` sections of ``key=value``
lines that every host of the group inherits. Upper-case keys override `.env` settings that are
marked per-host (see settings/schema.py).

Words are split as a shell would (quotes group, nothing is expanded). A ``#`` starts a comment
only at the start of a line or after a blank, outside quotes, as in `.env`: ``key='a#b'`` and
``TZ=Europe/Berlin#x`` keep their ``#``. A key given twice on one line, and a host listed
twice (names ignore case), are errors; names and addresses are written without a trailing dot.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, Problem
from .envfile import control_problem, read_text, split_lines
from .reader import is_ip, is_port, suggest
from .schema import Key

ROLES = ("core", "jvb")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}", re.IGNORECASE)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_BAD_NAME = (
    "is not a DNS name or an IP address. Name each server by its host name in ASCII without a "
    "trailing dot (e.g. meet.example.org) or address, and set address=... for where SSH "
    "connects."
)
HOST_KEYS = ("address", "public_ip", "private_ip", "user", "port", "key")


@dataclass(frozen=True)
class Host:
    """One server of the inventory.

    + name: the inventory name, used in output and as the SSH address when none is given.
    + role: "core" (the whole stack) or "jvb" (an extra video bridge).
    + address: where SSH connects (name or IP).
    + public_ip: the address media clients reach; the bridge advertises it.
    + private_ip: the address on the network between the core and its bridges: a bridge dials
      the core's and connects from its own, which the core's 5222 rule admits (one field for
      both, so they cannot disagree); default public_ip.
    + overrides: per-host values of `.env` keys, with the inventory line they came from.
    """

    name: str
    role: str
    address: str
    public_ip: str
    private_ip: str = ""
    user: str = "root"
    port: int = 22
    key: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    source: str = "hosts"

    def __post_init__(self) -> None:
        if not self.private_ip:
            object.__setattr__(self, "private_ip", self.public_ip)


@dataclass
class _Entry:
    name: str
    group: str
    values: dict[str, str]
    source: str


def load_inventory(path: Path, keys: tuple[Key, ...]) -> list[Host]:
    """Parse and validate ``path``; ``keys`` are the settings, of which the per-host ones may
    be overridden. Raises ConfigError listing every problem found."""
    if not path.exists():
        message = f"not found. Copy {path.name}.example to {path.name} and list your servers."
        raise ConfigError([Problem(path.name, "-", message)])
    text, problems = read_text(path)
    if text is None:
        raise ConfigError(problems)
    per_host = tuple(key.name for key in keys if key.per_host)
    entries, group_vars, problems = _parse(path.name, text, per_host)
    hosts = [_host(entry, group_vars, problems) for entry in entries]
    # A host line already refused explains an empty inventory by itself.
    problems += _whole_inventory_problems(path.name, hosts, empty_ok=bool(problems))
    if problems:
        raise ConfigError(problems)
    return hosts


def _parse(
    name: str, text: str, per_host: tuple[str, ...]
) -> tuple[list[_Entry], dict[str, dict[str, str]], list[Problem]]:
    entries: list[_Entry] = []
    group_vars: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    section = ""
    for number, raw in enumerate(split_lines(text), start=1):
        source = f"{name}:{number}"
        line = _without_comment(raw).strip()
        if not line:
            continue
        bad = control_problem(source, "-", line.replace("\t", " "))
        if bad:
            problems.append(bad)
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            problems += _section_problems(source, section)
            continue
        try:
            words = shlex.split(line)
        except ValueError as error:
            problems.append(Problem(source, line, f"cannot be read ({error})."))
            continue
        if section.endswith(":vars"):
            group_vars.setdefault(section.removesuffix(":vars"), {}).update(
                _pairs(words, source, per_host, problems)
            )
        elif section in ROLES:
            if not is_host_name(words[0]):
                problems.append(Problem(source, words[0], _BAD_NAME))
                continue
            entries.append(
                _Entry(words[0], section, _pairs(words[1:], source, per_host, problems), source)
            )
        else:
            problems.append(Problem(source, line, "stands before any [core] or [jvb] section."))
    return entries, group_vars, problems


def _without_comment(line: str) -> str:
    """``line`` up to a ``#`` that opens a comment: at its start or after a blank, not quoted."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _section_problems(source: str, section: str) -> list[Problem]:
    group = section.removesuffix(":vars")
    if group in (*ROLES, "all"):
        return []
    hint = suggest(group, (*ROLES, "all"))
    return [Problem(source, f"[{section}]", f"unknown section. Use [core] or [jvb].{hint}")]


def _pairs(
    words: list[str], source: str, per_host: tuple[str, ...], problems: list[Problem]
) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            problems.append(Problem(source, word, "is not key=value, e.g. address=203.0.113.10."))
        elif key in pairs:
            problems.append(Problem(source, key, "is given twice on this line. Keep one."))
        elif key in HOST_KEYS or key in per_host:
            pairs[key] = value
        else:
            hint = suggest(key, (*HOST_KEYS, *per_host))
            problems.append(Problem(source, key, f"is not a host setting.{hint}"))
    return pairs


def _host(entry: _Entry, group_vars: dict[str, dict[str, str]], problems: list[Problem]) -> Host:
    values = {**group_vars.get("all", {}), **group_vars.get(entry.group, {}), **entry.values}
    address = values.get("address", entry.name)
    public_ip = values.get("public_ip", address)
    private_ip = values.get("private_ip", "")
    _check_host_values(entry, address, public_ip, values, problems)
    port = values.get("port", "22")
    key = values.get("key")
    return Host(
        name=entry.name,
        role=entry.group,
        address=address,
        public_ip=public_ip,
        private_ip=private_ip,
        user=values.get("user", "root"),
        port=int(port) if is_port(port) else 22,
        key=Path(os.path.expanduser(key)) if key else None,
        overrides={k: v for k, v in values.items() if k not in HOST_KEYS},
        source=entry.source,
    )


def _check_host_values(
    entry: _Entry, address: str, public_ip: str, values: dict[str, str], problems: list[Problem]
) -> None:
    def fail(key: str, message: str) -> None:
        problems.append(Problem(entry.source, key, message))

    if not is_host_name(address):
        fail("address", f"{address!r} is not an IP address or host name. Fix address=.")
    elif not is_ip(public_ip):
        fail(
            "public_ip",
            f"{public_ip!r} is not an IP address. Set public_ip=<the address clients reach> "
            f"for {entry.name}; the video bridge advertises it.",
        )
    else:
        _check_public_ip(entry, public_ip, problems)
    private_ip = values.get("private_ip")
    if private_ip is not None and not is_ip(private_ip):
        fail(
            "private_ip",
            f"{private_ip!r} is not an IP address. Set private_ip=<{entry.name}'s address on "
            "the network between the core and its bridges>, or leave it out to use public_ip.",
        )
    user = values.get("user", "root")
    if not _USER.fullmatch(user):
        fail("user", f"{user!r} is not a login name. Use letters, digits, '_', '-', '.'.")
    port = values.get("port", "22")
    if not is_port(port):
        fail("port", f"{port!r} is not a TCP port (1-65535).")
    key = values.get("key")
    if key and os.path.isdir(os.path.expanduser(key)):
        fail("key", f"{key!r} is a folder. Name the SSH private key file, e.g. ~/.ssh/id_ed25519.")
    elif key and not os.access(os.path.expanduser(key), os.R_OK):
        fail("key", f"the SSH key {key!r} cannot be read. Fix the path or its permissions.")


def _whole_inventory_problems(
    source: str, hosts: list[Host], empty_ok: bool = False
) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[object, Host] = {}
    for host in hosts:
        for identity in (host.name.lower(), (host.address.lower(), host.port)):
            other = seen.setdefault(identity, host)
            if other is not host:
                message = f"duplicates {other.name} ({other.source}). List each server once."
                problems.append(Problem(host.source, host.name, message))
                break
    cores = [h for h in hosts if h.role == "core"]
    bridges = [h for h in hosts if h.role == "jvb"]
    if len(cores) > 1 and not problems:  # duplicates already explain a second core
        names = ", ".join(f"{h.name} ({h.source})" for h in cores)
        problems.append(
            Problem(
                source,
                "[core]",
                f"{len(cores)} core hosts: {names}. An inventory describes one site with one "
                "core; list extra video bridges under [jvb], and give another site its own "
                "inventory.",
            )
        )
    elif bridges and not cores:
        problems.append(
            Problem(
                source,
                "[core]",
                f"{len(cores)} core hosts, but jvb hosts need exactly one core to connect to. "
                "List the core host under [core].",
            )
        )
    if not hosts and not empty_ok:
        problems.append(Problem(source, "[core]", "no hosts. List at least one under [core]."))
    if bridges:
        problems += [_ipv6_link(host) for host in hosts if _is_ipv6(host.private_ip)]
    return problems


def _is_ipv6(address: str) -> bool:
    return is_ip(address) and isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address)


def _ipv6_link(host: Host) -> Problem:
    """The jvb image splits XMPP_SERVER on ':' (jvb.conf), so it cannot dial an IPv6 core, and
    a bridge reaching an IPv4 core connects from an IPv4 address."""
    return Problem(
        host.source,
        "private_ip",
        f"{host.private_ip!r} ({host.name}) is an IPv6 address, and bridges reach the core over "
        "IPv4 only (the jvb image splits XMPP_SERVER on ':'). Set private_ip=<its IPv4 "
        "address> on this line.",
    )


def is_host_name(name: str) -> bool:
    """A DNS name (one or more labels of ASCII letters, digits and inner hyphens, no trailing
    dot: it would make a second name for one host) or an IP address: never a path, never an
    option."""
    if is_ip(name):
        return True
    labels = name.lower().split(".")
    numeric_top = labels[-1].isdigit()  # 203.0.113.300 is no name
    return (
        name.isascii()
        and len(name) <= 253
        and not numeric_top
        and all(map(_LABEL.fullmatch, labels))
    )


def _check_public_ip(entry: _Entry, public_ip: str, problems: list[Problem]) -> None:
    ip = ipaddress.ip_address(public_ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    broadcast = ip == ipaddress.IPv4Address("255.255.255.255")
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local or broadcast:
        message = (
            f"{public_ip!r} is not an address clients can reach (unspecified, loopback, "
            f"link-local, multicast or broadcast). Set public_ip=<the address clients reach> "
            f"for {entry.name}."
        )
        problems.append(Problem(entry.source, "public_ip", message))
