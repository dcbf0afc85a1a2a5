"""The inventory: which hosts to deploy, how to reach them, and what role each plays.

The format is the INI inventory most deploy tools read: ``[core]`` and ``[jvb]`` groups of
``name key=value ...`` lines, and ``[all:vars]`` / ``[GROUP:vars]`` sections of ``key=value``
lines that every host of the group inherits. Upper-case keys override `.env` settings that are
marked per-host (see settings/schema.py).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, Problem
from .reader import is_hostname, is_ip, suggest
from .schema import Key

ROLES = ("core", "jvb")
HOST_KEYS = ("address", "public_ip", "user", "port", "key")


@dataclass(frozen=True)
class Host:
    """One server of the inventory.

    + name: the inventory name, used in output and as the SSH address when none is given.
    + role: "core" (the whole stack) or "jvb" (an extra video bridge).
    + address: where SSH connects (name or IP).
    + public_ip: the address media clients reach; the bridge advertises it.
    + overrides: per-host values of `.env` keys, with the inventory line they came from.
    """

    name: str
    role: str
    address: str
    public_ip: str
    user: str = "root"
    port: int = 22
    key: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    source: str = "hosts"


@dataclass
class _Entry:
    name: str
    group: str
    values: dict[str, str]
    source: str


def load_inventory(path: Path, keys: tuple[Key, ...]) -> list[Host]:
    """Parse and validate ``path``; ``keys`` are the settings, of which the per-host ones may
    be overridden. Raises ConfigError listing every problem found."""
    if not path.is_file():
        message = f"not found. Copy {path.name}.example to {path.name} and list your servers."
        raise ConfigError([Problem(path.name, "-", message)])
    per_host = tuple(key.name for key in keys if key.per_host)
    entries, group_vars, problems = _parse(path, per_host)
    hosts = [_host(entry, group_vars, problems) for entry in entries]
    problems += _whole_inventory_problems(path.name, hosts)
    if problems:
        raise ConfigError(problems)
    return hosts


def _parse(
    path: Path, per_host: tuple[str, ...]
) -> tuple[list[_Entry], dict[str, dict[str, str]], list[Problem]]:
    entries: list[_Entry] = []
    group_vars: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    section = ""
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        source = f"{path.name}:{number}"
        line = raw.split("#", 1)[0].strip()
        if not line:
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
            entries.append(
                _Entry(words[0], section, _pairs(words[1:], source, per_host, problems), source)
            )
        else:
            problems.append(Problem(source, line, "stands before any [core] or [jvb] section."))
    return entries, group_vars, problems


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
    _check_host_values(entry, address, public_ip, values, problems)
    port = values.get("port", "22")
    key = values.get("key")
    return Host(
        name=entry.name,
        role=entry.group,
        address=address,
        public_ip=public_ip,
        user=values.get("user", "root"),
        port=int(port) if port.isdigit() else 22,
        key=Path(os.path.expanduser(key)) if key else None,
        overrides={k: v for k, v in values.items() if k not in HOST_KEYS},
        source=entry.source,
    )


def _check_host_values(
    entry: _Entry, address: str, public_ip: str, values: dict[str, str], problems: list[Problem]
) -> None:
    def fail(key: str, message: str) -> None:
        problems.append(Problem(entry.source, key, message))

    if not (is_ip(address) or is_hostname(address)):
        fail("address", f"{address!r} is not an IP address or host name.")
    if not is_ip(public_ip):
        fail(
            "public_ip",
            f"{public_ip!r} is not an IP address. Set public_ip=<the address clients reach> "
            f"for {entry.name}; the video bridge advertises it.",
        )
    port = values.get("port", "22")
    if not port.isdigit() or not 0 < int(port) < 65536:
        fail("port", f"{port!r} is not a TCP port (1-65535).")
    key = values.get("key")
    if key and not os.access(os.path.expanduser(key), os.R_OK):
        fail("key", f"the SSH key {key!r} cannot be read. Fix the path or its permissions.")


def _whole_inventory_problems(source: str, hosts: list[Host]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[object, Host] = {}
    for host in hosts:
        for identity in (host.name, (host.address, host.port)):
            other = seen.setdefault(identity, host)
            if other is not host:
                message = f"duplicates {other.name} ({other.source}). List each server once."
                problems.append(Problem(host.source, host.name, message))
                break
    cores = [h for h in hosts if h.role == "core"]
    bridges = [h for h in hosts if h.role == "jvb"]
    if bridges and len(cores) != 1:
        problems.append(
            Problem(
                source,
                "[core]",
                f"{len(cores)} core hosts, but jvb hosts need exactly one core to connect to. "
                "List the core host under [core].",
            )
        )
    if not hosts:
        problems.append(Problem(source, "[core]", "no hosts. List at least one under [core]."))
    return problems
