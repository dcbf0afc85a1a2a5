"""A fresh Debian 12 test host with the faults of a new server: a disk too small for the images
(the deploy is refused with the numbers before anything is written), and a package manager that
unattended-upgrades keeps busy (the deploy waits with progress lines and goes on once the lock
is free, or stops with a message naming the holder before anything is installed).

The holder is a process named unattended-upgr that takes apt's two dpkg locks with fcntl, as
unattended-upgrades (through python-apt) does: apt-get refuses to install while it runs (the
test checks that too). `flock(1)` would not do: it takes flock(2) locks, which apt ignores.
The deploy runs in-process, as `fab deploy` runs it, with a short bound for the wait.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from jitsi_deploy.deploy.host import HostReport, Options, deploy_host
from jitsi_deploy.entry import load_or_exit as load
from tests.e2e.site import Site, bundle
from tests.rig.hosts import TestHost, host_exec

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
    options = Options(
        site.folder / "known_hosts", bundle=bundle(site.folder), package_lock_wait=bound
    )
    said: list[str] = []
    report = deploy_host(
        deployment,
        deployment.hosts[0],
        options,
        say=lambda host, change, status: said.append(f"{change.step} {status} {change.summary}"),
    )
    return report, said


def _installed(host: TestHost, package: str) -> bool:
    query = host_exec(host, "dpkg-query", "-W", "-f", "${db:Status-Status}", package)
    return query.stdout == "installed"


def test_a_full_disk_then_a_busy_package_manager(make_host, tmp_path: Path) -> None:
    host = make_host("bookworm")
    site = Site(tmp_path, [host])
    site.write()
    site.trust()

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
    assert report.outcomes == [] and said == []
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
    assert said and all(line.startswith("packages waiting unattended-upgr") for line in said)
    assert report.outcomes == []
    assert not _installed(host, "nginx") and not _installed(host, "docker.io")
    assert host_exec(host, "dpkg", "--audit").stdout == ""  # nothing half-configured

    # Released while the deploy waits: it goes on, and the host converges.
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
