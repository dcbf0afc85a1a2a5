"""What a host is and has, gathered by one shell script in one round trip, parsed by pure functions.

The script prints sections headed ``@@name``; each parser takes the lines of its section, so
every parser is tested from captured output without a server.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import paths
from .tls import HostTlsFacts, parse_probe

# Where the deploy notes the reloads and restarts it owes the host (see steps/handlers.py).
PENDING_FILE = "/var/lib/jitsi-deploy/pending-reactions"

PACKAGE_MANAGERS = {"debian": "apt-get", "rhel": "dnf"}
INTERESTING_COMMANDS = (
    "docker",
    "docker-compose",
    "nginx",
    "certbot",
    "ufw",
    "firewall-cmd",
    "crontab",
    "flock",
    "curl",
    "logrotate",
    "systemctl",
)


@dataclass(frozen=True)
class RemoteFile:
    """A path on the host: its sha256 (files only), mode, and owner and group as name:id."""

    sha256: str
    mode: int
    owner: str
    group: str

    def owned_by(self, owner: str, group: str) -> bool:
        """Whether owner and group match, each given by name or by numeric id."""
        return owner in self.owner.split(":") and group in self.group.split(":")


@dataclass(frozen=True)
class HostFacts:
    os_id: str
    os_version: str
    family: str
    init: str
    ssh_ports: tuple[int, ...]
    packages: frozenset[str]
    commands: frozenset[str]
    compose_v2: bool
    files: dict[str, RemoteFile | None] = field(default_factory=dict)
    daemon_json: str | None = None
    firewall: tuple[str, ...] = ()
    images: frozenset[str] = frozenset()
    services: dict[str, str] = field(default_factory=dict)
    tls: HostTlsFacts = field(default_factory=lambda: HostTlsFacts({}))
    pending: frozenset[str] = frozenset()
    running: frozenset[str] = frozenset()

    @property
    def compose(self) -> tuple[str, ...] | None:
        """How Compose is called here: v2 plugin first, else v1, else None (not installed)."""
        if self.compose_v2:
            return ("docker", "compose")
        return ("docker-compose",) if "docker-compose" in self.commands else None


def facts_script(managed_paths: Iterable[str], packages: Iterable[str], tls_probe: str) -> str:
    """The shell script that prints every fact the deploy needs: for these paths and packages,
    and the state of the certificates as ``tls_probe`` (a shell command line) prints it."""
    quoted_paths = " ".join(shlex.quote(p) for p in sorted(set(managed_paths)))
    quoted_packages = " ".join(shlex.quote(p) for p in sorted(set(packages)))
    commands = " ".join(INTERESTING_COMMANDS)
    return f"""
echo @@os-release; cat /etc/os-release 2>/dev/null
echo @@init; cat /proc/1/comm 2>/dev/null
echo @@ssh-ports
(sshd -T 2>/dev/null || /usr/sbin/sshd -T 2>/dev/null) | awk '$1 == "port" {{print $2}}'
echo @@packages
if command -v dpkg-query >/dev/null; then
  dpkg-query -W -f='${{Package}} ${{db:Status-Status}}\\n' {quoted_packages} 2>/dev/null \\
    | awk '$2 == "installed" {{print $1}}'
else
  rpm -q --qf '%{{NAME}}\\n' {quoted_packages} 2>/dev/null | grep -v 'not installed'
fi
echo @@commands
for c in {commands}; do command -v "$c" >/dev/null && echo "$c"; done
docker compose version >/dev/null 2>&1 && echo docker-compose-v2
echo @@files
for f in {quoted_paths}; do
  if [ -f "$f" ]; then
    echo "$(sha256sum "$f" | cut -c1-64) $(stat -c '%a %U:%u %G:%g' "$f") $f"
  elif [ -d "$f" ]; then
    echo "dir $(stat -c '%a %U:%u %G:%g' "$f") $f"
  else
    echo "- - - - $f"
  fi
done
echo @@daemon-json; cat {paths.DOCKER_DAEMON_JSON} 2>/dev/null
echo @@firewall; ufw status verbose 2>/dev/null || firewall-cmd --list-all 2>/dev/null
echo @@images; docker image ls --format '{{{{.Repository}}}}:{{{{.Tag}}}}' 2>/dev/null
echo @@services
for s in docker nginx cron crond; do echo "$s $(systemctl is-active "$s" 2>/dev/null)"; done
echo @@tls; {tls_probe}
echo @@pending; cat {PENDING_FILE} 2>/dev/null
echo @@running
docker ps --filter label=com.docker.compose.project={paths.COMPOSE_PROJECT} \\
  --format '{{{{.Label "com.docker.compose.service"}}}}' 2>/dev/null
echo @@end
"""


def parse_facts(output: str) -> HostFacts:
    sections = split_sections(output)
    os_release = parse_os_release(sections.get("os-release", []))
    commands = frozenset(sections.get("commands", []))
    return HostFacts(
        os_id=os_release.get("ID", ""),
        os_version=os_release.get("VERSION_ID", ""),
        family=os_family(os_release),
        init=next(iter(sections.get("init", [])), ""),
        ssh_ports=tuple(sorted({int(p) for p in sections.get("ssh-ports", []) if p.isdigit()})),
        packages=frozenset(sections.get("packages", [])),
        commands=commands - {"docker-compose-v2"},
        compose_v2="docker-compose-v2" in commands,
        files=parse_files(sections.get("files", [])),
        daemon_json="\n".join(sections["daemon-json"]) if sections.get("daemon-json") else None,
        firewall=tuple(sections.get("firewall", [])),
        images=frozenset(sections.get("images", [])),
        services=dict(line.split(" ", 1) for line in sections.get("services", []) if " " in line),
        tls=parse_probe("\n".join(sections.get("tls", []))),
        pending=frozenset(sections.get("pending", [])),
        running=frozenset(sections.get("running", [])),
    )


def split_sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = sections.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line)  # trailing tabs separate empty fields (the TLS probe)
    return sections


def parse_os_release(lines: list[str]) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def os_family(os_release: dict[str, str]) -> str:
    """'debian' for Debian and Ubuntu, 'rhel' for Rocky, Alma, CentOS and RHEL, else ''."""
    ids = {os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()}
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"rhel", "centos", "fedora", "rocky", "almalinux"}:
        return "rhel"
    return ""


def parse_files(lines: list[str]) -> dict[str, RemoteFile | None]:
    """``sha mode user:uid group:gid path`` lines; ``-`` when missing, ``dir`` for a folder."""
    files: dict[str, RemoteFile | None] = {}
    for line in lines:
        sha, mode, owner, group, path = line.split(" ", 4)
        files[path] = None if sha == "-" else RemoteFile(sha, int(mode, 8), owner, group)
    return files


def daemon_settings(facts: HostFacts) -> dict:
    """The host's current /etc/docker/daemon.json, or {} when absent; raises on invalid JSON."""
    return json.loads(facts.daemon_json) if facts.daemon_json else {}
