"""`fab update` on the deployed Debian 12 core and Debian 13 bridge, with releases made there.

A "new release" is the stand-in images under another tag, made on each host beforehand (as if
pulled: sending them as a bundle is the deploy's, tested in test_deploy.py, and would move
gigabytes here); a broken one has a web image that exits at once, as a release that does not
start would. The checks awaited are fab smoke's, from this machine through the core's nginx.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.site import Site
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


def fab_update(site: Site, tag: str, wait: str) -> subprocess.CompletedProcess[str]:
    resolve = f"{site.hosts[0].address}:443"
    return site.fab("update", "--version", tag, "--resolve", resolve, "--wait", wait)


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
    assert f"JITSI_IMAGE_VERSION={GOOD}" in site.env.read_text().splitlines()
    again = site.fab("deploy")
    assert again.returncode == 0 and "unchanged: nothing to do" in again.stdout, again.stdout
