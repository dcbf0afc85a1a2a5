"""Fault injection against a real compose stack: jitsi-health must restart exactly what broke.

The stack runs stand-in images (tests/standin) because the real Jitsi images cannot be fetched
here; they answer the same endpoints, run the same healthcheck.sh and fail on command.
"""

from __future__ import annotations

import fcntl
import subprocess
import time

import pytest
from healthstack import SCRIPT, SERVICES, docker


def restarted(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {s for s in SERVICES if before[s] != after[s]}


# (fault name, how to inject it, services that must be restarted)
FAULTS = [
    ("jvb main process killed", lambda s: docker("kill", s.container("jvb")), {"jvb"}),
    ("web container stopped", lambda s: docker("stop", "-t", "1", s.container("web")), {"web"}),
    (
        "jicofo frozen",
        lambda s: docker("kill", "-s", "STOP", s.container("jicofo")),
        {"jicofo"},
    ),
    (
        "prosody frozen",
        lambda s: docker("kill", "-s", "STOP", s.container("prosody")),
        {"prosody", "jicofo", "jvb"},
    ),
    ("uptime-kuma paused", lambda s: docker("pause", s.container("uptime-kuma")), {"uptime-kuma"}),
    ("jvb health 500", lambda s: s.exec("jvb", "touch", "/tmp/fault-health"), {"jvb"}),
    (
        "prosody health 500",
        lambda s: s.exec("prosody", "touch", "/tmp/fault-health"),
        {"prosody", "jicofo", "jvb"},
    ),
    ("kuma container removed", lambda s: docker("rm", "-f", s.container("uptime-kuma")), set()),
]


@pytest.mark.parametrize(("name", "inject", "expected"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_repaired_by_restarting_only_the_broken_service(stack, name, inject, expected):
    before = stack.started_at()
    inject(stack)
    assert stack.fault_seen_within(30), f"{name} not detected"

    first = stack.run()
    assert first.returncode != 0, f"{name} not detected"
    assert stack.log_lines("FAIL"), "the failure is logged"
    assert stack.log.stat().st_mode & 0o777 == 0o640, "the log is not for every user"
    assert not stack.log_lines("ACTION"), "no action before FAILS_BEFORE_ACTION runs"

    stack.run()
    actions = stack.log_lines("ACTION")
    assert actions and not any("FAILED" in a for a in actions), actions
    if name == "kuma container removed":
        # Recreated through compose from COMPOSE_DIR: a new container, everything else untouched.
        assert any("restarted uptime-kuma" in a for a in actions)
        before.pop("uptime-kuma")
        after = stack.started_at()
        after.pop("uptime-kuma")
        assert before == after
    else:
        assert restarted(before, stack.started_at()) == expected
    assert stack.healthy_within(2), stack.run("--report").stdout


def test_with_no_bridge_jicofo_goes_red_and_the_bridge_is_restarted_not_jicofo(stack):
    """The bridge loses its XMPP session: jicofo counts it out, and its own health answers 500
    at its next check, as the real one's does while no bridge is operational. Restarting jicofo
    would end every conference and bring no bridge back; the bridge is what gets restarted. The
    runs come once jicofo is red, so the rule is exercised every time."""
    stack.exec("jvb", "touch", "/tmp/fault-xmpp-lost")
    stack.wait_jicofo_health(500)
    before = stack.started_at()
    stack.run()
    stack.run()
    assert restarted(before, stack.started_at()) == {"jvb"}
    assert "WAIT jicofo: its checks fail for lack of bridges" in stack.log.read_text()
    assert stack.healthy_within(2), stack.run("--report").stdout


STILL_STARTING = """\
services:
  jvb:
    healthcheck:
      interval: 1h
      start_period: 1h
"""


def test_a_service_still_starting_is_waited_for_not_restarted(stack):
    """Docker keeps a container "starting" until its first healthcheck passes (here not for an
    hour); a check that fails meanwhile must not restart it over and over."""
    (stack.workdir / "starting.yml").write_text(STILL_STARTING)
    stack.compose("-f", "docker-compose.yml", "-f", "starting.yml", "up", "-d", "jvb")
    stack.configure(FAILS_BEFORE_ACTION=1)
    stack.exec("jvb", "touch", "/tmp/fault-health")
    before = stack.started_at()
    assert stack.run().returncode != 0
    stack.run()
    assert not stack.log_lines("ACTION")
    assert "WAIT jvb: its container is still starting" in stack.log.read_text()
    assert stack.started_at() == before

    stack.compose("up", "-d", "jvb")  # its usual healthcheck: the fault now makes it unhealthy
    stack.exec("jvb", "touch", "/tmp/fault-health")
    stack.wait_health("jvb", "unhealthy")
    stack.run()
    assert any("restarted jvb" in a for a in stack.log_lines("ACTION"))


def test_healthy_stack_sees_no_action_over_a_hundred_runs(stack):
    """A false alarm restarts a meeting service for nothing: a hundred runs back to back on
    the healthy stack (its real XMPP sessions included) must all pass and do nothing."""
    before = stack.started_at()
    codes = [stack.run().returncode for _ in range(100)]
    assert codes == [0] * 100
    assert not stack.log.exists() or stack.log.read_text() == ""
    assert stack.started_at() == before


def test_report_lists_each_check_and_fails_without_acting(stack):
    report = stack.run("--report")
    assert report.returncode == 0
    assert "ok    jicofo-bridges" in report.stdout
    stack.exec("jvb", "touch", "/tmp/fault-xmpp-lost")
    assert stack.fault_seen_within(30)
    before = stack.started_at()
    for _ in range(3):
        report = stack.run("--report")
        assert report.returncode == 1
    assert "FAIL  jicofo-bridges: operational bridges: 0 < 1" in report.stdout
    assert stack.started_at() == before
    assert not stack.state.exists(), "report mode keeps no state"


def test_backoff_doubles_between_restarts(stack):
    """A permanent fault (flag outside the tmpfs survives restarts): restarts wait 2**n * base."""
    stack.configure(FAILS_BEFORE_ACTION=1, BACKOFF_BASE=100, MAX_RESTARTS_PER_HOUR=5)
    stack.exec("jvb", "touch", "/var/fault/health")
    stack.run()
    assert len(stack.log_lines("ACTION")) == 1
    stack.wait_health("jvb", "unhealthy")  # a restarted container is let start first
    stack.run()
    assert len(stack.log_lines("ACTION")) == 1
    assert "next restart allowed in" in stack.log_lines("BACKOFF")[-1]

    # Two restarts, the last 150 s ago: the third must wait 2 * 100 s, so not yet ...
    now = int(time.time())
    (stack.state / "restarts.jvb").write_text(f"{now - 400}\n{now - 150}\n")
    before = stack.started_at()
    stack.run()
    assert stack.started_at() == before
    # ... but 250 s after the last one it may.
    (stack.state / "restarts.jvb").write_text(f"{now - 400}\n{now - 250}\n")
    stack.run()
    assert restarted(before, stack.started_at()) == {"jvb"}


def test_breaker_opens_after_max_restarts_and_keeps_alerting(stack):
    stack.configure(FAILS_BEFORE_ACTION=1, MAX_RESTARTS_PER_HOUR=2)
    stack.exec("jvb", "touch", "/var/fault/health")
    for _ in range(2):
        stack.run()
        stack.wait_health("jvb", "unhealthy")
    assert len(stack.log_lines("ACTION")) == 2
    before = stack.started_at()
    for _ in range(3):
        assert stack.run().returncode == 1
    assert stack.started_at() == before, "no restart once the breaker is open"
    assert len(stack.log_lines("ACTION")) == 2
    assert len([x for x in stack.log_lines("BREAKER") if "OPEN jvb" in x]) == 3
    assert "BREAKER OPEN  jvb" in stack.run("--report").stdout


def test_runs_do_nothing_until_the_deploy_arms_the_check(stack):
    """A first deploy writes the cron entry before its images are loaded: until the deploy
    makes the armed file (once the stack is up), a run neither logs nor acts, not even the
    SKIP of a run that finds the deploy holding the lock."""
    armed = stack.workdir / "armed"
    stack.configure(FAILS_BEFORE_ACTION=1, ARMED_FILE=str(armed))
    docker("stop", "-t", "1", stack.container("web"))
    assert stack.run().returncode == 0
    stack.state.mkdir(exist_ok=True)
    with open(stack.state / "lock", "a") as lock:  # as the deploy's `compose up` holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert stack.run().returncode == 0
    assert not stack.log.exists() or stack.log.read_text() == "", "not even a SKIP"
    assert "note: not armed yet" in stack.run("--report").stdout
    armed.touch()
    assert stack.run().returncode != 0
    assert any("restarted web" in a for a in stack.log_lines("ACTION"))


def test_a_run_while_another_holds_the_lock_does_not_act(stack):
    stack.configure(FAILS_BEFORE_ACTION=1)
    stack.exec("jvb", "touch", "/tmp/fault-health")
    stack.state.mkdir()
    before = stack.started_at()
    with open(stack.state / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = stack.run()
    assert result.returncode == 0
    assert stack.log_lines("SKIP") and not stack.log_lines("ACTION")
    assert stack.started_at() == before


def test_two_concurrent_runs_act_once(stack):
    """jicofo frozen: each run spends seconds in timeouts, so two started together overlap."""
    stack.configure(FAILS_BEFORE_ACTION=1)
    docker("kill", "-s", "STOP", stack.container("jicofo"))
    procs = [subprocess.Popen([str(SCRIPT), "--config", str(stack.config)]) for _ in range(2)]
    for p in procs:
        p.wait(timeout=120)
    assert len(stack.log_lines("ACTION")) == 1
    assert len(stack.log_lines("SKIP")) == 1


def test_jvb_only_host_checks_only_the_bridge(stack):
    stack.configure(SERVICES="jvb")
    report = stack.run("--report")
    checks = [line.split()[1].rstrip(":") for line in report.stdout.splitlines()[:-1]]
    assert checks == ["container:jvb", "jvb-health"]
    assert report.returncode == 0
