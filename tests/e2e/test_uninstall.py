"""`fab uninstall` on a deployed core (auth_core, once the modules before this one are done with
it): the site's machinery goes, its TURN server too (stopped and masked: Debian's coturn would
run as an open relay without the deploy's settings), SSH keeps answering through a firewall
that stays on, what people made stays until --purge."""

from __future__ import annotations

import re

import pytest

from jitsi_deploy.entry import load_or_exit
from jitsi_deploy.model import paths
from jitsi_deploy.operations.uninstall import KEPT, machinery
from jitsi_deploy.render.host import render_host
from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

PROJECT = f"label=com.docker.compose.project={paths.COMPOSE_PROJECT}"


def answering(prober: TestHost, target: TestHost, ports: tuple[int, ...]) -> set[int]:
    probe = "echo > /dev/tcp/{}/{}"
    return {
        port
        for port in ports
        if host_exec(prober, "timeout", "3", "bash", "-c", probe.format(target.address, port))
        .returncode == 0
    }  # fmt: skip


def existing(host: TestHost, candidates: tuple[str, ...]) -> list[str]:
    script = 'for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done'
    return host_exec(host, "sh", "-c", script, "sh", *candidates).stdout.split()


def coturn(host: TestHost) -> tuple[str, str, str]:
    """coturn's unit, active and enabled states, and what listens on TURN's port (UDP or TCP)."""
    active = host_exec(host, "systemctl", "is-active", "coturn").stdout.strip()
    enabled = host_exec(host, "systemctl", "is-enabled", "coturn").stdout.strip()
    listening = host_exec(host, "ss", "-Hlntu", "sport = :3478").stdout.strip()
    return active, enabled, listening


# The TURN server's files: nginx's split of 443, coturn's unit drop-in and its settings.
TURN_FILES = (paths.NGINX_STREAM, paths.COTURN_DROPIN, paths.TURN_CONFIG)


def test_uninstall_removes_the_site_keeps_ssh_and_what_people_made(auth_core: Site, make_host):
    core = auth_core.hosts[0]
    deployment = load_or_exit(auth_core.env, auth_core.folder / "hosts", save=False)
    ours = machinery(render_host(deployment, deployment.hosts[0]))
    prober = make_host("bookworm")
    assert answering(prober, core, (22, 80, 443, 3478)) == {22, 80, 443, 3478}
    active, enabled, listening = coturn(core)
    assert (active, enabled) == ("active", "enabled") and listening, "the TURN server ran"
    assert existing(core, TURN_FILES) == list(TURN_FILES)

    checked = auth_core.fab("uninstall", "-H", core.name, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{core.name}: would make " in checked.stdout
    assert host_exec(core, "docker", "ps", "-q", "--filter", PROJECT).stdout.split(), "untouched"

    gone = auth_core.fab("uninstall", "-H", core.name)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert host_exec(core, "docker", "ps", "-aq", "--filter", PROJECT).stdout == ""
    assert existing(core, ours) == []
    # The TURN server is off and stays off: masked, so no boot nor package upgrade starts it.
    assert coturn(core) == ("inactive", "masked", "")
    assert existing(core, TURN_FILES) == []
    assert host_exec(core, "iptables", "-n", "-L", paths.DOCKER_USER_CHAIN).returncode != 0
    # The firewall stays on: SSH alone is let in, from here and from another host (a range,
    # as TURN's relay ports, is listed as FIRST:LAST/udp).
    firewall = host_exec(core, "ufw", "status").stdout
    assert "Status: active" in firewall
    assert {int(p) for p in re.findall(r"^(\d+)(?::\d+)?/\w+ ", firewall, re.M)} == {core.port}
    assert answering(prober, core, (22, 80, 443, 3478, 10000)) == {22}
    assert host_exec(core, "nginx", "-t").returncode == 0, "nginx runs on without the site"
    # What people made stays: settings and secrets, the accounts, the archives.
    kept = (paths.COMPOSE_ENV, f"{paths.CONFIG_DIR}/prosody", paths.HOST_BACKUP_DIR)
    assert existing(core, kept) == list(kept)
    assert "kept (--purge removes them):" in gone.stdout

    again = auth_core.fab("uninstall", "-H", core.name)  # over SSH again: it still answers
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{core.name}: nothing of the site's machinery is left here." in again.stdout

    purged = auth_core.fab("uninstall", "-H", core.name, "--purge")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert existing(core, (*ours, *KEPT)) == []
    assert host_exec(core, "docker", "volume", "ls", "-q", "--filter", PROJECT).stdout == ""
    assert answering(prober, core, (22,)) == {22}
