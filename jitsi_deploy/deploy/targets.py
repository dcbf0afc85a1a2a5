"""Which hosts a task works on: the inventory's, or those named with `fab -H`."""

from __future__ import annotations

import re
import socket
from dataclasses import replace

from ..errors import ConfigError, Problem
from ..settings.inventory import Host, is_host_name
from ..settings.reader import is_port
from ..settings.site import Deployment


def select_hosts(deployment: Deployment, targets: str | None) -> list[Host]:
    """The inventory's hosts, or those named by ``fab -H`` (user@host:port, by name or address).

    A -H target missing from the inventory is deployed as a core host of the site.
    """
    if not targets:
        return list(deployment.hosts)
    return [_target(deployment, target) for target in targets.split(",") if target]


def with_unlisted(deployment: Deployment, hosts: list[Host]) -> Deployment:
    """``deployment`` with settings for each of ``hosts`` the inventory does not list: the
    core's (else the first host's), as such a -H target is deployed as a core host."""
    unlisted = [host for host in hosts if host.name not in deployment.sites]
    if not unlisted:
        return deployment
    model = deployment.core or deployment.hosts[0]
    sites = {**deployment.sites, **{h.name: deployment.sites[model.name] for h in unlisted}}
    return replace(deployment, sites=sites)


def _target(deployment: Deployment, target: str) -> Host:
    user, _, rest = target.rpartition("@")
    address, _, port = rest.partition(":")
    problems = []
    if not is_host_name(address):
        problems.append(Problem("-H", target, f"{address!r} is not a host name or IP address."))
    if port and not is_port(port):
        problems.append(Problem("-H", target, f"{port!r} is not a TCP port (1-65535)."))
    if user and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", user):
        problems.append(Problem("-H", target, f"{user!r} is not a login name."))
    if problems:
        fix = "Write -H host, user@host or user@host:port, comma-separated."
        raise ConfigError([replace(p, message=f"{p.message} {fix}") for p in problems])
    known = next((h for h in deployment.hosts if address in (h.name, h.address)), None)
    host = known or Host(address, "core", address, _public_ip(address))
    return replace(host, user=user or host.user, port=int(port) if port else host.port)


def _public_ip(address: str) -> str:
    try:
        return socket.gethostbyname(address)
    except OSError:
        problem = Problem(
            "-H", address, "does not resolve. List it in the inventory with public_ip."
        )
        raise ConfigError([problem]) from None
