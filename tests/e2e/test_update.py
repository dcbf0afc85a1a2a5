"""`fab update` on the deployed Debian 12 core and Debian 13 bridge, with releases made there.

A "new release" is the stand-in images under another tag, made on each host beforehand (as if
pulled: sending them as a bundle is the deploy's, tested in test_deploy.py, and would move
gigabytes here); a broken one has a web image that exits at once, as a release that does not
start would. The checks awaited are fab smoke's, from this machine through the core's nginx.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import time

import pytest

from tests.e2e.site import REPO, Site
from tests.rig.hosts import TestHost, host_exec
from tests.standin.build import JITSI_REPO, JITSI_SERVICES, JITSI_TAG

pytestmark = pytest.mark.slow

GOOD = "stable-11146-3"
BROKEN = "stable-11146-4"


def release(site: Site, tag: str, broken: bool = False) -> None:
    """The stand-ins under ``tag`` on every host (web exiting at once when ``broken``): all
    four on the core, the bridge's own on the bridge."""
    core, *bridges = site.hosts
    for host, services in [(core, JITSI_SERVICES), *((b, ("jvb",)) for b in bridges)]:
        for service in services:
            current = f"{JITSI_REPO}/{service}:{JITSI_TAG}"
            image = f"{JITSI_REPO}/{service}:{tag}"
            if broken and service == "web":
                recipe = f'FROM {current}\nENTRYPOINT ["/bin/sh", "-c", "exit 1"]\n'
                build = ("env", "DOCKER_BUILDKIT=0", "docker", "build", "-q", "-t", image, "-")
                host_exec(host, *build, input=recipe, check=True)
            else:
                host_exec(host, "docker", "tag", current, image, check=True)


def running_release(host: TestHost) -> str:
    image = host_exec(host, "docker", "inspect", "-f", "{{.Config.Image}}", "jitsi-jvb").stdout
    return image.strip().rpartition(":")[2]


def jitsi_containers(host: TestHost) -> set[str]:
    """Each Jitsi container of the host as "name image state"."""
    listed = ("docker", "ps", "--all", "--format", "{{.Names}} {{.Image}} {{.State}}")
    lines = host_exec(host, *listed, check=True).stdout.splitlines()
    return {line for line in lines if line.startswith("jitsi-") and "uptime-kuma" not in line}


def update_args(site: Site, tag: str, wait: str) -> tuple[str, ...]:
    resolve = f"{site.hosts[0].address}:443"
    return ("update", "--version", tag, "--resolve", resolve, "--wait", wait)


def fab_update(site: Site, tag: str, wait: str) -> subprocess.CompletedProcess[str]:
    return site.fab(*update_args(site, tag, wait))


def await_process(host: TestHost, pattern: str, running: subprocess.Popen[str]) -> None:
    """Until a process matching ``pattern`` runs on the host, while ``running`` has not ended."""
    deadline = time.monotonic() + 300
    while host_exec(host, "pgrep", "-f", pattern).returncode != 0:
        assert running.poll() is None, f"ended before {pattern!r} ran: {running.stdout.read()}"
        assert time.monotonic() < deadline, f"no process matching {pattern!r} on {host.name}"
        time.sleep(0.05)


def test_a_release_that_fails_its_checks_is_rolled_back(site: Site) -> None:
    before = site.env.read_text()
    release(site, BROKEN, broken=True)
    result = fab_update(site, BROKEN, "20")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{BROKEN} did not pass: rolling every host back to {JITSI_TAG}" in output
    assert [running_release(h) for h in site.hosts] == [JITSI_TAG, JITSI_TAG]
    after_rollback = output.rsplit("Smoke checks:", 1)[1]
    assert not re.search(r"^FAIL", after_rollback, re.M), after_rollback
    assert site.env.read_text() == before


def test_a_release_that_passes_stays_and_the_settings_name_it(site: Site) -> None:
    release(site, GOOD)
    result = fab_update(site, GOOD, "120")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert [running_release(h) for h in site.hosts] == [GOOD, GOOD]
    # The bridge host went after the core, drained first (no meeting was on it).
    bridge = site.hosts[1].name
    assert output.index(f"{bridge}: drained after") > output.index("RECAP"), output
    assert f"JITSI_IMAGE_VERSION={GOOD}" in site.env.read_text().splitlines()
    again = site.fab("deploy")
    assert again.returncode == 0 and "unchanged: nothing to do" in again.stdout, again.stdout


def test_an_update_cut_off_mid_way_is_finished_by_the_next_run_with_security_updates(
    site: Site,
) -> None:
    """While Compose recreates the core's containers, the operator's machine goes away: `fab`
    and its SSH sessions are killed, so nothing rolls back. The next `fab update`, with `--os`,
    applies each host's security updates (the bridge's through sudo) and finishes the move: no
    host is left with half its services on each release, and the checks pass."""
    core, bridge = site.hosts
    release(site, GOOD)
    target = GOOD if running_release(core) == JITSI_TAG else JITSI_TAG
    argv = site.fab_argv(*update_args(site, target, "120"))
    cut = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    await_process(core, "compose up -d --remove-orphans", cut)
    cut.kill()
    # The sessions end with the connection; any sshd still serving one goes now.
    host_exec(core, "pkill", "-KILL", "-f", "sshd.*@notty")
    cut.communicate(timeout=60)

    result = site.fab(*update_args(site, target, "120"), "--os")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for host, services in ((core, JITSI_SERVICES), (bridge, ("jvb",))):
        wanted = {f"jitsi-{s} {JITSI_REPO}/{s}:{target} running" for s in services}
        assert jitsi_containers(host) == wanted
        assert_security_updates_applied(host, output)
    assert f"JITSI_IMAGE_VERSION={target}" in site.env.read_text().splitlines()


def assert_security_updates_applied(host: TestHost, output: str) -> None:
    """The host's line, each package it names at that version now, and nothing left to do."""
    pattern = rf"{host.name}: (\d+ packages updated|no security updates); .+\."
    (line,) = [line for line in output.splitlines() if re.fullmatch(pattern, line)]
    after = output.split(line + "\n", 1)[1].splitlines()
    listed = itertools.takewhile(lambda entry: entry.startswith("  "), after)
    for package, version in (entry.split() for entry in listed):
        now = host_exec(host, "dpkg-query", "-W", "-f", "${Version}", package).stdout
        assert now == version, (package, now, version)
    left = host_exec(host, "unattended-upgrade", "--dry-run", "-v").stdout
    assert "No packages found that can be upgraded unattended" in left, left
