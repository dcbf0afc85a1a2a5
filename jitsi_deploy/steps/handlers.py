"""Reactions to changed files: reload or restart exactly what a change affects, in order.

Reactions owed are written to a file on the host before the files change and cleared after
the reactions ran, so a deploy cut off in between still reloads on the next run.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from .. import paths
from ..changes import PREVIOUS_SUFFIX, Change
from ..commands import Command, sh
from ..facts import PENDING_FILE
from ..proxy import NginxControl

STEP = "handlers"
HOST_NGINX = NginxControl()
ORDER = (
    "sysctl",
    "restart:docker",
    "reload:nginx",
    "restart:fail2ban",
    "up:stack",
    "restart:prosody",
)

COMPOSE = (
    f"cd {paths.STACK_DIR} && "
    'if docker compose version >/dev/null 2>&1; then docker compose "$@"; '
    'else docker-compose "$@"; fi'
)


def compose(*args: str, description: str) -> Command:
    """Compose v2 where the host has it, else v1: decided on the host, when it runs."""
    return Command(("sh", "-c", COMPOSE, "compose", *args), description)


def remember(reactions: Iterable[str]) -> Change:
    lines = "".join(f"{r}\n" for r in sorted(set(reactions)))
    script = 'mkdir -p "$(dirname "$1")" && cat >> "$1"'
    command = Command(
        ("sh", "-c", script, "remember", PENDING_FILE),
        "remember the reactions owed",
        stdin=lines.encode(),
    )
    return Change("files", "note the reloads and restarts owed", (command,))


def reaction_changes(reactions: Iterable[str], nginx_files: Iterable[str]) -> list[Change]:
    """The reactions, in dependency order, then clearing the owed list."""
    wanted = set(reactions)
    changes = [_reaction(name, tuple(nginx_files)) for name in ORDER if name in wanted]
    if changes:
        done = Command(("rm", "-f", PENDING_FILE), "clear the reactions owed")
        changes.append(Change(STEP, "all reactions done", (done,)))
    return changes


def _reaction(name: str, nginx_files: tuple[str, ...]) -> Change:
    if name == "sysctl":
        apply = Command(("sysctl", "-p", paths.SYSCTL_FILE), "apply kernel settings")
        # Containers and some VPSes refuse kernel keys: a warning, not a failed deploy.
        return Change(STEP, "apply kernel settings", (apply,), warn_only=True)
    if name == "restart:docker":
        reload_units = Command(("systemctl", "daemon-reload"), "reload systemd units")
        restart = Command(("systemctl", "restart", "docker"), "restart the Docker daemon")
        return Change(STEP, "restart the Docker daemon", (reload_units, restart))
    if name == "reload:nginx":
        return Change(STEP, "test and reload nginx", (reload_nginx(nginx_files),))
    if name == "restart:fail2ban":
        restart = Command(("systemctl", "restart", "fail2ban"), "restart fail2ban")
        return Change(STEP, "restart fail2ban for its new jails", (restart,))
    if name == "up:stack":
        up = compose("up", "-d", "--remove-orphans", description="start or update the stack")
        return Change(STEP, "start or update the containers that changed", (up,))
    if name == "restart:prosody":
        restart = compose("restart", "prosody", description="restart prosody")
        return Change(STEP, "restart prosody for its new settings", (restart,))
    raise ValueError(f"unknown reaction {name!r}")


def reload_nginx(files: tuple[str, ...], nginx: NginxControl = HOST_NGINX) -> Command:
    """Reload only a config `nginx -t` accepts; otherwise put back the files as they were
    before this deploy (or remove the ones it added), so nginx never stays on a broken config."""
    restore = "".join(
        f'if [ -e "{path}{PREVIOUS_SUFFIX}" ]; then mv -f "{path}{PREVIOUS_SUFFIX}" "{path}"; '
        f'else rm -f "{path}"; fi; '
        for path in files
    )
    return sh(
        f"if {shlex.join(nginx.test)}; then {shlex.join(nginx.reload)}; "
        f"else {restore}echo 'nginx -t refused the new config: the previous one stays'; "
        "exit 1; fi",
        "test the nginx config, then reload nginx",
    )
