"""Day-two work on running hosts: one command per host, all hosts in parallel, output per host."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError, DeployError, Problem
from ..model import paths
from ..model.services import placement_of, services_at
from ..remote.transport import Output, Remote
from ..settings.inventory import Host
from ..settings.reader import suggest
from ..settings.site import Deployment
from ..steps.handlers import COMPOSE
from .fleet import run_all
from .host import Options

_print_lock = threading.Lock()


@dataclass(frozen=True)
class HostOutput:
    """How a command went on one host, and what to show of it."""

    host: Host
    ok: bool
    text: str


# What a host's output means: (whether it went well, the text to show).
Judge = Callable[[Output], tuple[bool, str]]


def exit_status(output: Output) -> tuple[bool, str]:
    """The plain reading: the exit code decides, the output is shown as it is."""
    return output.exit_code == 0, (output.stdout + output.stderr).strip()


def health(hosts: list[Host], options: Options) -> list[HostOutput]:
    """The health checks, run now without acting, plus the recent actions."""
    return on_hosts(hosts, options, "/usr/local/sbin/jitsi-health --report")


def logs(
    deployment: Deployment, hosts: list[Host], options: Options, service: str, lines: int
) -> list[HostOutput]:
    """The health check's log, or the last lines of one container's log."""
    if not 0 < lines <= 100_000:
        raise ConfigError([Problem("--lines", str(lines), "is not from 1 to 100000.")])
    if not service:
        return on_hosts(hosts, options, _health_log(lines))
    chosen = hosts_running(deployment, hosts, service)
    arguments = f"logs --no-color --tail {lines} {shlex.quote(service)}"
    return on_hosts(chosen, options, _compose(arguments))


def _health_log(lines: int) -> str:
    """The log's last lines, or a sentence saying why there are none: healthy runs log nothing."""
    log, armed = paths.HEALTH_LOG, paths.HEALTH_ARMED
    return (
        f"if [ -s {log} ]; then tail -n {lines} {log}; "
        f'elif [ -e {armed} ]; then echo "nothing logged since the health check was armed '
        f'($(date -u -r {armed} +%Y-%m-%dT%H:%M:%SZ)): every run found the stack healthy"; '
        "else echo 'the health check is not armed yet: the deploy arms it once the stack is up'; "
        "fi"
    )


def restart(
    deployment: Deployment, hosts: list[Host], options: Options, service: str
) -> list[HostOutput]:
    if not service:
        return on_hosts(hosts, options, _compose("restart"))
    chosen = hosts_running(deployment, hosts, service)
    return on_hosts(chosen, options, _compose(f"restart {shlex.quote(service)}"))


def hosts_running(deployment: Deployment, hosts: list[Host], service: str) -> list[Host]:
    """The chosen hosts that run ``service`` (prosody on the core, jvb on every host); refused
    when none does, or when it is no service of the stack (it reaches a shell command)."""
    running = {
        host.name: tuple(s.name for s in services_at(placement_of(deployment, host)))
        for host in hosts
    }
    chosen = [host for host in hosts if service in running[host.name]]
    if not chosen:
        names = sorted({name for names in running.values() for name in names})
        message = (
            f"{service!r} runs on none of these hosts. Use one of {', '.join(names)}."
            f"{suggest(service, names)}"
        )
        raise ConfigError([Problem("--service", service, message)])
    return chosen


def _compose(arguments: str) -> str:
    return f"sh -c {shlex.quote(COMPOSE)} compose {arguments}"


def on_hosts(
    hosts: list[Host], options: Options, script: str, judge: Judge = exit_status
) -> list[HostOutput]:
    """Run ``script`` on every host in parallel (one round trip each) and print how it went."""

    def one(host: Host) -> HostOutput:
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        try:
            output = HostOutput(host, *judge(remote.run_script(script, timeout=120)))
        except DeployError as error:
            output = HostOutput(host, False, str(error))
        finally:
            remote.close()
        with _print_lock:
            print(f"== {host.name} ({'ok' if output.ok else 'FAILED'})")
            print(output.text + "\n", flush=True)
        return output

    return run_all(hosts, one)
