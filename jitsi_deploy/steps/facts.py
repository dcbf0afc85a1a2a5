"""Facts: what a host is and has, each a shell snippet plus a pure parser of what it prints.

The snippets of every step are joined into ONE script, run in one round trip; it prints each
fact's lines under a ``@@name`` header, and each parser is tested from captured output without a
server. The system facts below are the ones several steps read.

The snippets run side by side: the slow ones are programs of their own (ufw, docker, sshd -T),
and one after the other they took three times as long as the slowest. Each one's output waits in
a private folder in memory until all are done, then is printed in order. Memory, because a full
disk must not hide the facts that report it; where no such folder can be made, they run in turn.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..render.host import Rendered

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Fact(Generic[T]):
    """One fact: ``command(rendered)`` is the shell snippet, ``parse(lines)`` its meaning."""

    name: str
    command: Callable[[Rendered], str]
    parse: Callable[[list[str]], T]


class HostFacts:
    """The parsed facts of one host, looked up by the Fact that read them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, fact: Fact[T]) -> T:
        return self._values[fact.name]


def facts_script(facts: Iterable[Fact[Any]], rendered: Rendered) -> str:
    """One script printing every fact's section, each snippet a shell function of its own."""
    sections = [(f"fact_{n}", fact.name, fact.command(rendered)) for n, fact in enumerate(facts)]
    functions = "".join(
        f"{function}() {{\n{snippet or ':'}\n}}\n" for function, _, snippet in sections
    )
    side_by_side = "".join(
        f'{function} >"$facts/{function}" </dev/null &\n' for function, _, _ in sections
    )
    printed = "".join(f'echo @@{name}; cat "$facts/{function}"\n' for function, name, _ in sections)
    in_turn = "".join(f"echo @@{name}; {function} </dev/null\n" for function, name, _ in sections)
    return (
        f"{functions}"
        "if facts=$(mktemp -d /dev/shm/jitsi-deploy-facts.XXXXXX 2>/dev/null); then\n"
        """trap 'rm -rf "$facts"' EXIT\n"""
        f"{side_by_side}wait\n{printed}"
        f"else\n{in_turn}fi\n"
        "echo @@end\n"
    )


def parse_facts(facts: Iterable[Fact[Any]], output: str) -> HostFacts:
    sections = split_sections(output)
    return HostFacts({f.name: f.parse(sections.get(f.name, [])) for f in facts})


def split_sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line)  # trailing tabs separate empty fields (the TLS probe)
    return sections


def fixed(command: str) -> Callable[[Rendered], str]:
    """A snippet that is the same for every host."""
    return lambda rendered: command


def exists(name: str, path: str) -> Fact[bool]:
    """Whether ``path`` is on the host (a mark a run left)."""
    return Fact(name, fixed(f"test -e {path} && echo yes"), lambda out: out == ["yes"])


def lines(output: list[str]) -> tuple[str, ...]:
    return tuple(output)


@dataclass(frozen=True)
class OsRelease:
    id: str
    version: str
    family: str


def parse_os_release(output: list[str]) -> OsRelease:
    pairs = (line.split("=", 1) for line in output if "=" in line)
    fields = {key: value.strip().strip('"') for key, value in pairs}
    return OsRelease(fields.get("ID", ""), fields.get("VERSION_ID", ""), os_family(fields))


def os_family(os_release: dict[str, str]) -> str:
    """'debian' for Debian and Ubuntu, 'rhel' for Rocky, Alma, CentOS and RHEL, else ''."""
    ids = {os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()}
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"rhel", "centos", "fedora", "rocky", "almalinux"}:
        return "rhel"
    return ""


def parse_ports(output: list[str]) -> tuple[int, ...]:
    return tuple(sorted({int(p) for p in output if p.isdigit()}))


def parse_states(output: list[str]) -> dict[str, str]:
    """``name state`` lines, e.g. systemd units and whether they are active."""
    return dict(line.split(" ", 1) for line in output if " " in line)


OS_RELEASE = Fact("os-release", fixed("cat /etc/os-release 2>/dev/null"), parse_os_release)
# The host's own IPv4 addresses: a cloud's 1:1 NAT keeps the public one off the host.
ADDRESSES = Fact(
    "addresses",
    fixed("ip -o -4 addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1"),
    lines,
)
SSH_PORTS = Fact(
    "ssh-ports",
    fixed(
        "(sshd -T 2>/dev/null || /usr/sbin/sshd -T 2>/dev/null) | awk '$1 == \"port\" {print $2}'"
    ),
    parse_ports,
)
SYSTEM_SERVICES = Fact(
    "services",
    # One systemctl for all units: it prints their states in the order asked.
    fixed(
        "set -- docker nginx cron crond; "
        'for state in $(systemctl is-active "$@" 2>/dev/null); do echo "$1 $state"; shift; done'
    ),
    parse_states,
)


def quoted(words: Iterable[str]) -> str:
    return " ".join(shlex.quote(w) for w in sorted(set(words)))
