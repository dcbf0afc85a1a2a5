"""The health check's own bookkeeping on a local compose stack: a hundred quiet runs, back-off,
the breaker, the lock between runs, arming, a bridge-only host. None of it depends on the
compose file; the faults of the services themselves are repaired on the stack the product
deployed, with its compose file and health.conf (tests/e2e/test_health_faults.py).

The stack runs stand-in images (tests/standin) because the real Jitsi images cannot be fetched
here; they answer the same endpoints, run the same healthcheck.sh and fail on command.
"""

from __future__ import annotations

import fcntl
import subprocess
import time

from healthstack import SCRIPT, SERVICES, docker


def restarted(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {s for s in SERVICES if before[s] != after[s]}


def test_healthy_stack_sees_no_action_over_a_hundred_runs(stack):
    """A false alarm restarts a meeting service for nothing: a hundred runs back to back on
    the healthy stack (its real XMPP sessions included) must all pass and do nothing."""
    before = stack.started_at()
    codes = [stack.run().returncode for _ in range(100)]
    assert codes == [0] * 100
    assert not stack.log.exists() or stack.log.read_text() == ""
    assert stack.started_at() == before


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
