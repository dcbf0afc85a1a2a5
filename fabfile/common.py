"""What every remote task shares: the options, reaching the chosen hosts, exit codes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import fabric
from invoke import Exit

from jitsi_deploy.errors import ConfigError


def lazy(name: str) -> ModuleType:
    """Module ``name``, run when a task first uses one of its names. Each task needs only its
    own modules; loading them all up front cost every `fab` run, `fab --list` too, more than
    Fabric itself (tests/bench/startup.py)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


entry = lazy("jitsi_deploy.entry")
target_hosts = lazy("jitsi_deploy.deploy.targets")
one_host = lazy("jitsi_deploy.deploy.host")

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
    deployment = entry.load_or_exit(*entry.settings_paths(env, inventory))
    options = one_host.Options(
        known_hosts=Path(known_hosts).expanduser(),
        trust_new_host_keys=trust_new_host_keys,
        ssh_config=c.config,
        **extra,
    )
    try:
        hosts = target_hosts.select_hosts(deployment, targets)
    except ConfigError as error:
        raise Exit(
            "Bad -H targets; nothing was touched:\n"
            + "\n".join(f"  {problem}" for problem in error.problems)
        ) from None
    return target_hosts.with_unlisted(deployment, hosts), hosts, options


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
