"""What every remote task shares: the options, reaching the chosen hosts, exit codes."""

from __future__ import annotations

from pathlib import Path

import fabric
from invoke import Exit

from jitsi_deploy.deploy.fleet import select_hosts, with_unlisted
from jitsi_deploy.deploy.host import Options
from jitsi_deploy.entry import load_or_exit, settings_paths
from jitsi_deploy.errors import ConfigError

KNOWN_HOSTS = "~/.ssh/known_hosts"
SHARED_HELP = {
    "targets": "filled in by fab from -H (the hosts to work on); not for use by hand",
    "env": "settings file (default: .env)",
    "inventory": "inventory file (default: hosts)",
    "known_hosts": "known_hosts file checked for host keys (default: ~/.ssh/known_hosts)",
    "trust_new_host_keys": "accept and record the key of a host seen for the first time",
}


def task(*args, **kwargs):
    """Fabric's @task with long options only: Invoke would give each task short letters of its
    own (-i the inventory on one task, the timeout on another, and Fabric's identity file
    before the task name)."""
    return fabric.task(*args, auto_shortflags=False, **kwargs)


def connect(c, targets, env, inventory, known_hosts, trust_new_host_keys, **extra):
    """The selected hosts and how to reach them: what every remote task starts with."""
    deployment = load_or_exit(*settings_paths(env, inventory))
    options = Options(
        known_hosts=Path(known_hosts).expanduser(),
        trust_new_host_keys=trust_new_host_keys,
        ssh_config=c.config,
        **extra,
    )
    try:
        hosts = select_hosts(deployment, targets)
    except ConfigError as error:
        raise Exit(
            "Bad -H targets; nothing was touched:\n"
            + "\n".join(f"  {problem}" for problem in error.problems)
        ) from None
    return with_unlisted(deployment, hosts), hosts, options


def checked(operation, *args):
    """Run ``operation``; a bad option stops with its message before any host is touched."""
    try:
        return operation(*args)
    except ConfigError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        raise Exit(f"Bad options; nothing was touched:\n{lines}") from None


def exit_on_failure(outputs) -> None:
    if not all(output.ok for output in outputs):
        raise Exit(code=1)
