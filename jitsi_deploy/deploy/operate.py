"""Day-two work on running hosts: one command per host, all hosts in parallel, output per host."""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass

from ..errors import DeployError
from ..remote.transport import Remote
from ..settings.inventory import Host
from ..steps.handlers import COMPOSE
from .fleet import run_all
from .host import Options

_print_lock = threading.Lock()


@dataclass(frozen=True)
class HostOutput:
    host: Host
    exit_code: int
    text: str


def health(hosts: list[Host], options: Options) -> list[HostOutput]:
    """The health checks, run now without acting, plus the recent actions."""
    return on_hosts(hosts, options, "/usr/local/sbin/jitsi-health --report")


def logs(hosts: list[Host], options: Options, service: str, lines: int) -> list[HostOutput]:
    """The health check's log, or the last lines of one container's log."""
    if not service:
        return on_hosts(hosts, options, f"tail -n {lines} /var/log/jitsi-health.log")
    return on_hosts(hosts, options, _compose(f"logs --no-color --tail {lines} {service}"))


def status(hosts: list[Host], options: Options) -> list[HostOutput]:
    script = "systemctl is-active docker nginx cron; " + _compose("ps")
    return on_hosts(hosts, options, script)


def restart(hosts: list[Host], options: Options, service: str) -> list[HostOutput]:
    return on_hosts(hosts, options, _compose(f"restart {service}".strip()))


def _compose(arguments: str) -> str:
    return f"sh -c {shlex.quote(COMPOSE)} compose {arguments}"


def on_hosts(hosts: list[Host], options: Options, script: str) -> list[HostOutput]:
    def one(host: Host) -> HostOutput:
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        try:
            result = remote.run_script(script, timeout=120)
            output = HostOutput(host, result.exit_code, (result.stdout + result.stderr).strip())
        except DeployError as error:
            output = HostOutput(host, 255, str(error))
        finally:
            remote.close()
        with _print_lock:
            print(f"== {host.name} ({'ok' if output.exit_code == 0 else 'FAILED'})")
            print(output.text + "\n", flush=True)
        return output

    return run_all(hosts, one)
