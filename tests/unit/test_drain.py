"""`fab drain` and the rolling update: the bridge's answers read right, the waiting ends at the
last conference or the timeout, the bridge stops once, bridges go one at a time after the core.

The host is played by a scripted remote here (its answers are what the bridge and Docker
print); tests/e2e/test_deploy.py drains the stand-in bridge of a deployed site over SSH.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from jitsi_deploy.deploy.host import HostReport
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations import drain as drains
from jitsi_deploy.remote.transport import Output
from jitsi_deploy.settings.inventory import Host
from tests.unit.sites import two_hosts

METRICS = """# HELP jitsi_jvb_conferences Current number of conferences.
# TYPE jitsi_jvb_conferences gauge
jitsi_jvb_conferences {}
# TYPE jitsi_jvb_drain_mode gauge
jitsi_jvb_drain_mode 1.0
"""


@dataclass
class Bridge:
    """A bridge host as the drain sees it: the start script's exit code, then the conference
    count each metrics request finds (the last one repeats; "refused": curl could not connect,
    "garbled": an answer without the count)."""

    start: int = 0
    counts: list[str] = field(default_factory=lambda: ["0"])
    scripts: list[str] = field(default_factory=list)

    def run_script(self, script: str, timeout: int = 0) -> Output:
        self.scripts.append(script)
        if script.startswith("c=$(docker ps"):
            return Output(self.start, "", "curl: (7) Failed to connect" if self.start else "")
        if script == drains.COUNT:
            count = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
            if count == "refused":
                return Output(7, "", "curl: (7) Failed to connect")
            if count == "garbled":
                return Output(0, "<html>", "")
            return Output(0, METRICS.format(count), "")
        assert script in (drains.STOP, drains.UNDO)
        return Output(0, "", "")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def drain(bridge: Bridge, timeout: float = 60, image: str = "") -> tuple[drains.Drained, list]:
    said: list[str] = []
    clock = Clock()
    done = drains.drain_host(bridge, "b1", said.append, timeout, image, clock, clock.sleep)
    return done, said


def test_the_conference_count_is_read_from_the_prometheus_text():
    assert drains.conferences(METRICS.format("3.0")) == 3
    assert drains.conferences(METRICS.format("0")) == 0
    assert drains.conferences("jitsi_jvb_conferences_completed 7.0\n") is None


def test_the_bridge_stops_once_its_last_conference_ended():
    bridge = Bridge(counts=["2.0", "2.0", "1.0", "0.0"])
    done, said = drain(bridge)
    assert (done.error, done.left, done.seconds) == ("", 0, 15.0)
    assert said == [
        "b1: in drain mode, 2 conference(s) on it; waiting up to 1 min 0 s.",
        "b1: in drain mode, 1 conference(s) on it; waiting up to 50 s.",
    ]
    assert bridge.scripts.count(drains.STOP) == 1 and bridge.scripts[-1] == drains.STOP
    assert done.summary() == "b1: drained after 15 s: no conference was on it when it stopped."


def test_at_the_timeout_the_bridge_stops_with_what_is_left_and_says_where_it_goes():
    bridge = Bridge(counts=["4.0"])
    done, _ = drain(bridge, timeout=20)
    assert (done.left, bridge.scripts[-1]) == (4, drains.STOP)
    assert "4 conference(s) still on it: jicofo moves them to another bridge" in done.summary()


def test_a_metrics_request_that_fails_is_asked_again_not_taken_for_no_meetings():
    bridge = Bridge(counts=["2.0", "refused", "refused", "2.0", "0.0"])
    done, said = drain(bridge)
    assert (done.error, done.left) == ("", 0)
    assert bridge.scripts.count(drains.COUNT) == 5 and bridge.scripts[-1] == drains.STOP
    assert len(said) == 1  # the count said once: it did not change


def test_metrics_without_the_count_end_the_drain_mode_and_leave_the_bridge_running():
    bridge = Bridge(counts=["garbled"])
    done, _ = drain(bridge)
    assert drains.STOP not in bridge.scripts and bridge.scripts[-1] == drains.UNDO
    assert "lack jitsi_jvb_conferences" in done.error
    assert "drain mode is off again, the bridge runs on" in done.error
    assert "/colibri/drain/disable" in drains.UNDO and "/drained" in drains.UNDO


def test_a_bridge_that_refuses_drain_mode_is_not_stopped():
    bridge = Bridge(start=1)
    done, _ = drain(bridge)
    assert drains.STOP not in bridge.scripts
    assert done.summary() == "b1: the drain failed: the bridge refused drain mode: " + (
        "curl: (7) Failed to connect"
    )


@pytest.mark.parametrize(
    ("code", "note"),
    [(drains.NOT_RUNNING, "is not running"), (drains.ON_IMAGE, "runs that build already")],
)
def test_a_stopped_bridge_or_one_on_the_wanted_build_needs_no_drain(code, note):
    bridge = Bridge(start=code)
    done, _ = drain(bridge, image="ghcr.io/jitsi/jvb:stable-11146-2")
    assert note in done.summary() and not done.error
    assert bridge.scripts == [drains.start_script("ghcr.io/jitsi/jvb:stable-11146-2")]


def test_the_start_marks_the_host_before_drain_mode_and_compares_images_only_for_an_update():
    plain = drains.start_script()
    assert plain.index("/drained") < plain.index("/colibri/drain/enable")
    assert "docker image inspect" not in plain
    assert "docker image inspect -f '{{.Id}}' ghcr.io/jitsi/jvb:x" in drains.start_script(
        "ghcr.io/jitsi/jvb:x"
    )


def test_the_metrics_request_sends_the_accept_header_the_real_bridge_needs():
    assert "-H 'Accept: text/plain'" in drains.COUNT


def host(name: str, role: str) -> Host:
    return Host(name, role, address=name, public_ip="203.0.113.9")


def test_rolling_deploys_the_core_then_each_bridge_alone_after_its_drain():
    hosts = [host("b1", "jvb"), host("core", "core"), host("b2", "jvb")]
    events: list[str] = []

    def deploy(some: list[Host]) -> list[HostReport]:
        events.append("deploy " + ",".join(h.name for h in some))
        return [HostReport(h) for h in some]

    def drain_host(host: Host) -> drains.Drained:
        events.append(f"drain {host.name}")
        return drains.Drained(host.name)

    reports = drains.rolling(hosts, deploy, drain_host)
    assert events == ["deploy core", "drain b1", "deploy b1", "drain b2", "deploy b2"]
    assert [r.host.name for r in reports] == ["core", "b1", "b2"]


def test_rolling_stops_at_a_failed_drain_and_leaves_the_next_bridge_alone():
    hosts = [host("b1", "jvb"), host("b2", "jvb")]
    deployed: list[str] = []

    def deploy(some: list[Host]) -> list[HostReport]:
        deployed.extend(h.name for h in some)
        return [HostReport(h) for h in some]

    reports = drains.rolling(hosts, deploy, lambda host: drains.Drained(host.name, error="no"))
    assert deployed == [] and [r.error for r in reports] == ["b1: the drain failed: no"]


def test_draining_every_bridge_of_the_site_is_refused(tmp_path):
    deployment = two_hosts(tmp_path)
    with pytest.raises(ConfigError, match="no video bridge"):
        drains.check_targets(deployment, list(deployment.hosts))
    drains.check_targets(deployment, [h for h in deployment.hosts if h.role == "jvb"])
