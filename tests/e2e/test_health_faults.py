"""Faults of the services on the shared site's core, repaired by the product's health check:
the stack as the product deployed it (its compose file, CONTAINER_HEALTH_INTERVAL=5 from the
test settings, the rendered start periods), its health.conf (CHECK_DOCKER on), the real script
run directly instead of waiting for cron (tests/e2e/health_host.py). Each must restart exactly
what broke, and what depends on it.

The script's own bookkeeping (back-off, breaker, lock, arming, a bridge-only host) is tested on
a local stack in tests/health/test_faults.py: it does not depend on the compose file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from jitsi_deploy.model import paths
from tests.e2e.health_host import SERVICES, DeployedStack
from tests.e2e.site import Site
from tests.rig.hosts import host_exec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployed(site: Site) -> Iterator[DeployedStack]:
    """The core, its cron runs disarmed for the module (so only the tests' runs act), armed
    again afterwards, every service healthy as the next modules expect."""
    core = site.hosts[0]
    stack = DeployedStack(core)
    host_exec(core, "rm", "-f", paths.HEALTH_ARMED, check=True)
    try:
        stack.restore()
        yield stack
    finally:
        stack.restore()
        host_exec(core, "sh", "-c", f": > {paths.HEALTH_ARMED}", check=True)


@pytest.fixture
def stack(deployed: DeployedStack) -> Iterator[DeployedStack]:
    yield deployed
    deployed.restore()


def restarted(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {s for s in SERVICES if before[s] != after[s]}


Inject = Callable[[DeployedStack, str], object]


def kill(signal: str) -> Inject:
    return lambda s, service: s.docker("kill", "-s", signal, s.container(service))


# (fault, how to inject it into a service, the service, what must be restarted). Prosody's
# faults restart jicofo and the bridge after it (they keep a session with it).
FAULTS = [
    ("jvb main process killed", kill("KILL"), "jvb", {"jvb"}),
    ("web container stopped", lambda s, x: s.docker("stop", "-t", "1", s.container(x)), "web",
     {"web"}),
    ("web container paused", lambda s, x: s.docker("pause", s.container(x)), "web", {"web"}),
    ("jicofo frozen", kill("STOP"), "jicofo", {"jicofo"}),
    ("jvb health 500", lambda s, x: s.exec(x, "touch", "/tmp/fault-health"), "jvb", {"jvb"}),
    ("prosody health 500", lambda s, x: s.exec(x, "touch", "/tmp/fault-health"), "prosody",
     {"prosody", "jicofo", "jvb"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "inject", "service", "expected"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_a_fault_is_repaired_by_restarting_only_what_broke(stack, name, inject, service, expected):
    before = stack.started_at()
    inject(stack, service)
    assert stack.fault_seen_within(), f"{name} not detected"

    first = stack.run()
    assert first.returncode != 0, f"{name} not detected"
    assert stack.log_lines("FAIL"), "the failure is logged"
    assert stack.sh(f"stat -c %a {stack.log}").strip() == "640", "the log is not for every user"
    assert not stack.log_lines("ACTION"), "no action before FAILS_BEFORE_ACTION runs"

    stack.run()
    actions = stack.log_lines("ACTION")
    assert actions and not any("FAILED" in a for a in actions), actions
    assert restarted(before, stack.started_at()) == expected
    assert stack.healthy_within(), stack.run("--report").stdout


def test_a_removed_container_is_made_again_from_the_products_compose_file(stack):
    before = stack.started_at()
    stack.docker("rm", "-f", stack.container("web"))
    stack.configure(FAILS_BEFORE_ACTION=1)
    stack.run()
    assert any("restarted web" in a for a in stack.log_lines("ACTION"))
    after = stack.started_at()
    assert stack.ready("web") or stack.health("web") == "starting"
    assert {s: after[s] for s in SERVICES if s != "web"} == {
        s: before[s] for s in SERVICES if s != "web"
    }


def test_a_stopped_turn_server_is_restarted_and_nginx_left_alone(stack: DeployedStack) -> None:
    """Both TURN probes fail (the TLS one goes through nginx's split on 443) while the site's
    own checks pass: the health check restarts coturn, not nginx."""
    stack.sh("systemctl stop coturn")
    try:
        report = stack.run("--report").stdout
        assert "FAIL  turn-udp:" in report and "FAIL  turn-tls:" in report, report
        assert "ok    site-root" in report, report
        stack.configure(FAILS_BEFORE_ACTION=1)
        stack.run()
        actions = stack.log_lines("ACTION")
        assert any("restarted coturn" in a for a in actions), actions
        assert not any("nginx" in a for a in actions), actions
        assert stack.sh("systemctl is-active coturn").strip() == "active"
        again = stack.run("--report").stdout
        assert "ok    turn-udp" in again and "ok    turn-tls" in again, again
    finally:
        stack.sh("systemctl start coturn")


@contextmanager
def every_bridge_lost(site: Site, stack: DeployedStack) -> Iterator[None]:
    """Both bridges of the site lose their XMPP session (the stand-in's fault flag), so jicofo
    counts them out: the core's health check asks for one bridge at least (a missing remote
    one is the monitors' and smoke's to report, not a reason to restart the core's)."""
    remote = ("docker", "exec", "jitsi-jvb")
    host_exec(site.hosts[1], *remote, "touch", "/tmp/fault-xmpp-lost", check=True)
    try:
        stack.exec("jvb", "touch", "/tmp/fault-xmpp-lost")
        yield
    finally:
        host_exec(site.hosts[1], *remote, "rm", "-f", "/tmp/fault-xmpp-lost")


def test_with_no_bridge_jicofo_goes_red_and_the_bridges_are_restarted_not_jicofo(site, stack):
    """jicofo's health answers 500 while no bridge is operational, as the real one's does.
    Restarting jicofo would end every conference and bring no bridge back; the core's bridge is
    what gets restarted. The runs come once jicofo is red, so the rule is exercised each time."""
    with every_bridge_lost(site, stack):
        stack.wait_jicofo_health("500")
        before = stack.started_at()
        stack.run()
        stack.run()
        assert restarted(before, stack.started_at()) == {"jvb"}
        assert "WAIT jicofo: its checks fail for lack of bridges" in stack.log_text()
    assert stack.healthy_within(), stack.run("--report").stdout


def test_a_service_still_starting_is_waited_for_not_restarted(stack):
    """The product's start period (60 s for jvb): a recreated bridge whose checks fail from its
    first moment stays "starting", and the runs wait; once it has been healthy, the same fault
    makes it unhealthy within CONTAINER_HEALTH_INTERVAL's retries, and it is restarted."""
    stack.compose("up", "-d", "--no-deps", "--force-recreate", "jvb")
    stack.exec("jvb", "touch", "/tmp/fault-health")
    stack.configure(FAILS_BEFORE_ACTION=1)
    before = stack.started_at()
    assert stack.health("jvb") == "starting"
    assert stack.run().returncode != 0
    stack.run()
    assert not stack.log_lines("ACTION")
    assert "WAIT jvb: its container is still starting" in stack.log_text()
    assert stack.started_at() == before

    stack.exec("jvb", "rm", "/tmp/fault-health")
    stack.wait_health("jvb", "healthy")
    stack.exec("jvb", "touch", "/tmp/fault-health")
    stack.wait_health("jvb", "unhealthy")
    stack.run()
    assert any("restarted jvb" in a for a in stack.log_lines("ACTION"))


def test_the_healthy_site_sees_no_action_over_many_runs(stack):
    """A false alarm restarts a meeting service for nothing: runs back to back on the healthy
    site (its real XMPP sessions, Kuma pushes and the site through nginx included) must all
    pass and do nothing."""
    before = stack.started_at()
    codes = [stack.run().returncode for _ in range(20)]
    assert codes == [0] * 20
    assert stack.log_text() == ""
    assert stack.started_at() == before


def test_the_report_lists_each_check_and_fails_without_acting(site, stack):
    report = stack.run("--report")
    assert report.returncode == 0, report.stdout
    assert "ok    jicofo-bridges" in report.stdout
    with every_bridge_lost(site, stack):
        assert stack.fault_seen_within()
        before = stack.started_at()
        for _ in range(3):
            report = stack.run("--report")
            assert report.returncode == 1
        assert "FAIL  jicofo-bridges: operational bridges: 0 < 1" in report.stdout
        assert stack.started_at() == before
        assert not stack.exists(stack.state), "report mode keeps no state"
