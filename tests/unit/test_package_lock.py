"""A busy package manager: who holds apt's locks (from the probe's output), the wait with its
progress lines, and the message that stops the deploy before anything is installed."""

from __future__ import annotations

import pytest

from jitsi_deploy.deploy import package_lock
from jitsi_deploy.errors import DeployError
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps import packages
from jitsi_deploy.steps.packages import LockHolder

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
# What the probe printed on a Debian 12 test host while a process named unattended-upgr held
# both dpkg locks with fcntl, as unattended-upgrades does.
PROBE_OUTPUT = [
    "/var/lib/dpkg/lock-frontend 278 unattended-upgr",
    "/var/lib/dpkg/lock 278 unattended-upgr",
]
HOLDERS = packages.parse_holders(PROBE_OUTPUT)
# apt-get install -o DPkg::Lock::Timeout=2 on that host, captured.
APT_LOCKED = """\
Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 453 (unattended-upgr)...
Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 453 (unattended-upgr)...
E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?
"""  # noqa: E501


def test_the_probe_output_names_each_lock_and_its_holder() -> None:
    assert (
        LockHolder("/var/lib/dpkg/lock-frontend", 278, "unattended-upgr"),
        LockHolder("/var/lib/dpkg/lock", 278, "unattended-upgr"),
    ) == HOLDERS
    assert packages.parse_holders([]) == ()
    # The kernel lists the locks in its own order; they are named in the order apt takes them.
    assert packages.parse_holders(PROBE_OUTPUT[::-1]) == HOLDERS
    assert packages.holders_text(HOLDERS) == (
        "unattended-upgr (pid 278) holds /var/lib/dpkg/lock-frontend, /var/lib/dpkg/lock"
    )


def test_the_probe_reads_every_apt_lock_from_proc_locks() -> None:
    script = packages.lock_probe(30)
    assert all(lock in script for lock in packages.APT_LOCKS)
    assert "/proc/locks" in script and "+ 30 ))" in script
    assert packages.LOCK_HOLDERS in packages.STEP.facts  # read with the other facts: no trip


def test_only_an_apt_install_waits_for_the_locks() -> None:
    install = packages.install_change(packages.RELEASES[("debian", "12")], "distro", ("nginx",))
    assert packages.uses_apt([install])
    dnf = packages.install_change(packages.RELEASES[("rocky", "9")], "official", ("nginx",))
    assert not packages.uses_apt([dnf])


class Clock:
    """Time that passes only when the probe waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(answers: list[tuple[LockHolder, ...]], bound: float) -> tuple[list[str], list[float]]:
    clock, said, asked = Clock(), [], []

    def probe(seconds: float) -> tuple[LockHolder, ...]:
        asked.append(seconds)
        clock.now += seconds
        return answers.pop(0)

    def say(host: Host, change, status: str) -> None:
        said.append(f"{change.step} {status} {change.summary}")

    package_lock.wait_for_locks(HOST, HOLDERS, probe, say, bound, clock)
    return said, asked


def test_a_released_lock_is_waited_for_with_a_progress_line_each_pause() -> None:
    said, asked = _run([HOLDERS, ()], bound=600)
    assert said == [
        "packages waiting unattended-upgr (pid 278) holds /var/lib/dpkg/lock-frontend, "
        "/var/lib/dpkg/lock; waiting up to 10m00s more",
        "packages waiting unattended-upgr (pid 278) holds /var/lib/dpkg/lock-frontend, "
        "/var/lib/dpkg/lock; waiting up to 9m30s more",
    ]
    assert asked == [30.0, 30.0]


def test_a_free_lock_costs_nothing() -> None:
    said: list[str] = []
    package_lock.wait_for_locks(HOST, (), lambda s: pytest.fail("probed"), said.append, 60)
    assert said == []


def test_a_lock_held_past_the_bound_stops_with_who_and_what_to_do() -> None:
    with pytest.raises(DeployError) as stopped:
        _run([HOLDERS, HOLDERS, HOLDERS], bound=45)
    message = str(stopped.value)
    assert message.startswith(
        "the package manager is busy: unattended-upgr (pid 278) holds /var/lib/dpkg/lock-frontend"
    )
    assert "still after waiting 0m45s" in message
    assert "unattended-upgrades" in message and "run the deploy again" in message
    assert message.endswith("Nothing was installed.")


def test_apts_own_refusal_is_explained_the_same_way() -> None:
    explained = packages.explain_install_failure(APT_LOCKED)
    assert explained.startswith(
        "the package manager became busy: unattended-upgr (pid 453) holds "
        "/var/lib/dpkg/lock-frontend."
    )
    assert "Do not kill it" in explained
    other = "E: Unable to locate package nginx-extras\n"
    assert packages.explain_install_failure(other) == other.strip()
