"""A fresh Debian 12 test host with the faults of a new server: a disk too small for the images
(the deploy is refused with the numbers before anything is written), and a package manager that
unattended-upgrades keeps busy (the deploy waits with progress lines and goes on once the lock
is free, or stops with a message naming the holder before anything is installed). Once free,
the host pulls its images from a real registry (IMAGE_SOURCE=pull, the default), and `fab
update` to the release it runs takes a new build published under the same tag: a broken one is
rolled back to the build before, a good one stays.

The holder is a process named unattended-upgr that takes apt's two dpkg locks with fcntl, as
unattended-upgrades (through python-apt) does: apt-get refuses to install while it runs (the
test checks that too). `flock(1)` would not do: it takes flock(2) locks, which apt ignores.
The deploy runs in-process, as `fab deploy` runs it, with a short bound for the wait.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from jitsi_deploy.deploy.console import Console
from jitsi_deploy.deploy.host import HostReport, Options, deploy_host
from jitsi_deploy.entry import load_or_exit as load
from tests.e2e.site import Site, bundle
from tests.rig.hosts import TestHost, host_exec, rig_gateway
from tests.rig.registry import Registry, registry
from tests.standin.build import JITSI_REPO, JITSI_SERVICES, JITSI_TAG

pytestmark = pytest.mark.slow

HOLDER = """
import fcntl, os, sys, time
with open("/proc/self/comm", "w") as comm:
    comm.write("unattended-upgr")
locks = [open(path, "w") for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")]
for lock in locks:
    fcntl.lockf(lock, fcntl.LOCK_EX)
with open("/run/lock-holder.pid", "w") as pid:
    pid.write(str(os.getpid()))
time.sleep(float(sys.argv[1]))
"""


def _hold_locks(host: TestHost, seconds: int) -> None:
    host_exec(host, "rm", "-f", "/run/lock-holder.pid", check=True)
    host_exec(host, "sh", "-c", "cat > /root/holder.py", input=HOLDER, check=True)
    run = ["docker", "exec", "--detach", host.name, "python3", "/root/holder.py", str(seconds)]
    subprocess.run(run, check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while host_exec(host, "test", "-s", "/run/lock-holder.pid").returncode != 0:
        assert time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.2)


def _deploy(site: Site, bound: float) -> tuple[HostReport, list[str]]:
    deployment = load(site.env, site.folder / "hosts")
    options = Options(site.folder / "known_hosts", bundle=bundle(), package_lock_wait=bound)
    printed = io.StringIO()  # not a terminal: plain lines, `host step status summary`
    report = deploy_host(deployment, deployment.hosts[0], options, Console(printed))
    said = [" ".join(line.split()[1:]) for line in printed.getvalue().splitlines()]
    return report, said


def _installed(host: TestHost, package: str) -> bool:
    query = host_exec(host, "dpkg-query", "-W", "-f", "${db:Status-Status}", package)
    return query.stdout == "installed"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Iterator[Registry]:
    """The registry, holding the stand-ins under the release's tag."""
    with registry(tmp_path_factory.mktemp("registry"), rig_gateway()) as serving:
        for service in JITSI_SERVICES:
            serving.push(f"{JITSI_REPO}/{service}:{JITSI_TAG}", f"jitsi/{service}:{JITSI_TAG}")
        yield serving


@pytest.fixture(scope="module")
def fresh(make_host, tmp_path_factory, images: Registry) -> tuple[TestHost, Site]:
    """A fresh host whose site pulls from the registry (the disk test first sends a bundle)."""
    host = make_host("bookworm")
    images.trust(host)
    site = Site(tmp_path_factory.mktemp("fresh"), [host])
    site.trust()
    return host, site


def pulling(site: Site, images: Registry) -> None:
    site.write(
        {"IMAGE_SOURCE": "pull", "JITSI_IMAGE_REPO": f"{images.address}/jitsi"}
        | {"ENABLE_MONITORING": "0"}
    )


def test_a_full_disk_then_a_busy_package_manager(fresh, images: Registry) -> None:
    host, site = fresh
    site.write()

    # Docker's folder on a file system too small for the bundle's images: refused, untouched.
    host_exec(
        host, "mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", "/var/lib/docker", check=True
    )
    before = host_exec(host, "sh", "-c", "ls -A /etc /usr/local/sbin /var/lib/docker").stdout
    report, said = _deploy(site, bound=20)
    host_exec(host, "umount", "/var/lib/docker", check=True)
    assert report.error.startswith(
        f"{report.host.name} has not enough free disk space for this deploy, so nothing was "
        "changed:\n  /var/lib/docker: 0.3 GiB free, "
    ), report.error
    assert "images to load" in report.error and "docker image prune -a" in report.error
    # The progress says only that the host failed (the recap gives the whole message).
    assert report.outcomes == [] and said == [f"deploy failed {report.error.splitlines()[0]}"]
    after = host_exec(host, "sh", "-c", "ls -A /etc /usr/local/sbin /var/lib/docker").stdout
    assert after == before and not _installed(host, "nginx")

    # Held past the bound: the deploy stops before the packages step, and says who and why.
    _hold_locks(host, 600)
    # apt takes its lock before it looks the package up: this name is never installed.
    refused = host_exec(host, "apt-get", "install", "-y", "jitsi-deploy-no-such-package")
    assert refused.returncode != 0 and "unattended-upgr" in refused.stderr, refused.stderr
    report, said = _deploy(site, bound=5)
    host_exec(host, "sh", "-c", "kill $(cat /run/lock-holder.pid)", check=True)
    assert report.error.startswith("the package manager is busy: unattended-upgr (pid "), said
    assert "/var/lib/dpkg/lock-frontend" in report.error and "Nothing was installed" in report.error
    *waiting, failed = said
    assert waiting and all(line.startswith("packages waiting unattended-upgr") for line in waiting)
    assert failed.startswith("deploy failed the package manager is busy: unattended-upgr")
    assert report.outcomes == []
    assert not _installed(host, "nginx") and not _installed(host, "docker.io")
    assert host_exec(host, "dpkg", "--audit").stdout == ""  # nothing half-configured

    # Released while the deploy waits: it goes on, and the host converges, pulling its images.
    pulling(site, images)
    _hold_locks(host, 8)
    report, said = _deploy(site, bound=300)
    assert report.error == "", report.error
    # One line: the probe on the host returns as soon as the lock is free, within its pause.
    assert said[0] == (
        "packages waiting unattended-upgr (pid "
        + host_exec(host, "cat", "/run/lock-holder.pid").stdout
        + ") holds /var/lib/dpkg/lock-frontend, /var/lib/dpkg/lock; waiting up to 5m00s more"
    )
    # Then the install, which says it is running while it takes its time, then its outcome.
    installing = [line for line in said[1:] if not line.startswith("packages running ")]
    assert installing[0].startswith("packages changed install"), said
    assert _installed(host, "nginx") and _installed(host, "docker.io")
    pulled = host_exec(host, "docker", "image", "ls", "--format", "{{.Repository}}").stdout
    assert set(pulled.split()) == {f"{images.address}/jitsi/{s}" for s in JITSI_SERVICES}


def new_build(images: Registry, broken: bool) -> str:
    """A new build of the web image pushed under the release's tag: one that exits at once, or
    the same with a label; its image ID."""
    tag = f"{images.address}/jitsi/web:{JITSI_TAG}"
    change = 'ENTRYPOINT ["/bin/sh", "-c", "exit 1"]' if broken else "LABEL rebuilt=yes"
    recipe = f"FROM {JITSI_REPO}/web:{JITSI_TAG}\n{change}\n"
    build = ["docker", "build", "-q", "-t", tag, "-"]
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(build, input=recipe, text=True, check=True, capture_output=True, env=env)
    subprocess.run(["docker", "push", "-q", tag], check=True, capture_output=True)
    return image_id(None, tag)


def image_id(host: TestHost | None, image: str) -> str:
    inspect = ("docker", "image", "inspect", "-f", "{{.Id}}", image)
    if host is None:
        return subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    return host_exec(host, *inspect, check=True).stdout.strip()


def running_web(host: TestHost) -> str:
    return host_exec(host, "docker", "inspect", "-f", "{{.Image}}", "jitsi-web").stdout.strip()


def converged(fresh, images: Registry) -> tuple[TestHost, Site, str, str]:
    """The host deployed as the site says, pulling (nothing to do after the first test): the
    host, the site, the web image's name and the build its container runs."""
    host, site = fresh
    pulling(site, images)
    deploy = site.fab("deploy")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return host, site, f"{images.address}/jitsi/web:{JITSI_TAG}", running_web(host)


def update_same_release(host: TestHost, site: Site, wait: str) -> str:
    """`fab update` to the release the host runs: its exit code and output."""
    result = site.fab("update", "--resolve", f"{host.address}:443", "--wait", wait)
    return f"{result.returncode}\n{result.stdout}{result.stderr}"


def test_a_broken_new_build_of_the_same_release_is_rolled_back(fresh, images) -> None:
    host, site, web, before = converged(fresh, images)
    broken = new_build(images, broken=True)
    output = update_same_release(host, site, "20")
    assert output.startswith("1\n"), output
    assert f"a new build of the same release: web {before[7:19]} -> {broken[7:19]}." in output
    assert "did not pass: rolling every host back" in output
    assert running_web(host) == image_id(host, web) == image_id(host, web + "-previous") == before
    # The broken build stays on the registry; a deploy never pulls a tag the host has.
    again = site.fab("deploy")
    assert again.returncode == 0 and "unchanged: nothing to do" in again.stdout, again.stdout


def test_a_good_new_build_of_the_same_release_stays(fresh, images) -> None:
    host, site, web, before = converged(fresh, images)
    good = new_build(images, broken=False)
    output = update_same_release(host, site, "120")
    assert output.startswith("0\n"), output
    assert f"web {before[7:19]} -> {good[7:19]}." in output and "Every host runs" in output
    assert running_web(host) == image_id(host, web) == good
    assert image_id(host, web + "-previous") == before
    shown = host_exec(host, "docker", "ps", "--format", "{{.Image}}", "-f", "name=jitsi-web")
    assert shown.stdout.strip() == web, "the container runs what its tag names"
