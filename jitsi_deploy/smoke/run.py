"""`fab smoke`: the web checks against the site's public URL, then the host checks over SSH."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..deploy.fleet import run_all
from ..deploy.host import Options
from ..errors import ConfigError, Problem
from ..model.brewery import expected_bridges
from ..model.services import placement_of
from ..model.turn import TURN_SECRET
from ..operations import tokens
from ..remote.transport import Remote
from ..settings.inventory import Host, is_host_name
from ..settings.reader import is_port
from ..settings.site import Deployment, Site
from .checks import Login, Result, Target, host_checks, host_results, web_results


def target_for(deployment: Deployment, ca_file: str = "", connect_to: str = "") -> Target:
    """The site as the core host serves it; bridges may reach 5222, so they are listed."""
    core = deployment.core
    if core is None:
        raise ConfigError([Problem("hosts", "[core]", "no core host: nothing serves the site.")])
    _check_options(ca_file, connect_to)
    site = deployment.sites[core.name]
    login = _login(site)
    jvbs = [h for h in deployment.hosts if h.role == "jvb"]
    bridges = {a for h in jvbs for a in (h.address, h.public_ip, h.private_ip)}
    return Target(
        public_url=site.public_url,
        rooms=site.rooms,
        core_address=core.public_ip,
        connect_to=connect_to,
        ca_file=ca_file,
        self_signed_ok=site.tls.mode == "selfsigned",
        login=login,
        token=tokens.smoke_token(site) if login == "token" else "",
        bridge_addresses=tuple(sorted(bridges)),
        turn_host=site.turn.hostname,
        turn_secret=site.secrets[TURN_SECRET.name],
    )


def _login(site: Site) -> Login:
    if not site.auth.enabled:
        return "anonymous"
    if site.auth.type == "jwt":
        return "token"
    return "guest" if site.auth.guests else "account"


def _check_options(ca_file: str, connect_to: str) -> None:
    problems = []
    if ca_file and not Path(ca_file).is_file():
        problems.append(Problem("--ca-file", ca_file, "is not a readable file."))
    host, _, port = connect_to.rpartition(":")
    if connect_to and not (is_host_name(host.strip("[]")) and is_port(port)):
        message = "is not ADDRESS:PORT, e.g. 203.0.113.10:443 or [2001:db8::10]:443."
        problems.append(Problem("--resolve", connect_to, message))
    if problems:
        raise ConfigError(problems)


def ssh_results(deployment: Deployment, hosts: list[Host], options: Options) -> list[Result]:
    """The host checks on every host, in parallel, in inventory order."""

    def one(host: Host) -> list[Result]:
        checks = host_checks(expected_bridges(placement_of(deployment, host)))
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        try:
            return host_results(remote, checks)
        finally:
            remote.close()

    return [result for results in run_all(hosts, one) for result in results]


def smoke(
    deployment: Deployment,
    hosts: list[Host],
    options: Options,
    ca_file: str,
    connect_to: str,
    wait: float = 0,
) -> list[Result]:
    """Every check; with ``wait``, failures are retried for that many seconds (a stack just
    (re)started needs a minute before jicofo sees its bridge and rooms can be opened)."""
    target = target_for(deployment, ca_file, connect_to)
    return settle(lambda: web_results(target) + ssh_results(deployment, hosts, options), wait)


def settle(run: Callable[[], list[Result]], wait: float, pause: float = 10) -> list[Result]:
    """``run`` until nothing fails or ``wait`` seconds are over; the last results."""
    deadline = time.monotonic() + wait
    while True:
        results = run()
        left = deadline - time.monotonic()
        failing = [r.name for r in results if r.status == "fail"]
        if not failing or left < pause:
            return results
        print(f"waiting for: {', '.join(failing)} ({left:.0f}s left)", file=sys.stderr, flush=True)
        time.sleep(pause)
