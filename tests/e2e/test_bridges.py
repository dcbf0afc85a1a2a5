"""The shared site's extra bridge taken out of service and brought back: `fab drain` over SSH
against the jvb stand-in (its drain API and metrics as jitsi-videobridge serves them), with the
real health check on the host and jicofo's stand-in on the core counting the brewery."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from jitsi_deploy.model import paths
from tests.e2e.site import REPO, Site
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow


def bridges_counted(core: TestHost) -> int | None:
    """jicofo's count, None while it does not answer (a stack the test before restarted)."""
    stats = host_exec(core, "curl", "-fsS", "http://127.0.0.1:8888/stats")
    if stats.returncode != 0:
        return None
    return json.loads(stats.stdout)["bridge_selector"]["operational_bridge_count"]


def wait_bridges(core: TestHost, count: int, seconds: float = 120) -> None:
    """Until jicofo counts ``count`` bridges; a bridge stopped without a goodbye stays in the
    brewery while Prosody keeps its session (smacks hibernation, 15 s)."""
    deadline = time.monotonic() + seconds
    while bridges_counted(core) != count:
        assert time.monotonic() < deadline, f"jicofo does not count {count} bridge(s)"
        time.sleep(1)


def jvb_state(host: TestHost) -> str:
    listed = host_exec(host, "docker", "ps", "-a", "--filter", "name=jitsi-jvb", "--format",
                       "{{.State}}")  # fmt: skip
    return listed.stdout.strip()


def test_a_drained_bridge_leaves_after_its_last_meeting_and_a_deploy_brings_it_back(
    site: Site,
) -> None:
    """While the bridge hosts a (stand-in) conference, `fab drain` waits with the bridge in drain
    mode and still in jicofo's count (`fab status` names it draining); once the conference ended
    the bridge stops and leaves the count, and `fab smoke` names it missing. The health check
    leaves the drained bridge stopped; a deploy starts it, it joins again, and the host is
    watched as before."""
    core, bridge = site.hosts
    wait_bridges(core, 2)
    host_exec(bridge, "docker", "exec", "jitsi-jvb", "sh", "-c", "echo 1 > /tmp/conferences")
    argv = site.fab_argv("-H", bridge.name, "drain", "--timeout", "120")
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True) as drain:
        assert drain.stdout is not None
        waiting = drain.stdout.readline()
        assert f"{bridge.name}: in drain mode, 1 conference(s) on it" in waiting, waiting
        metrics = host_exec(bridge, "curl", "-fsS", "-H", "Accept: */*", "127.0.0.1:8080/metrics")
        assert "\njitsi_jvb_drain_mode 1.0\n" in metrics.stdout
        assert bridges_counted(core) == 2, "a draining bridge keeps its meetings"
        shown = site.fab("status").stdout  # jicofo's view, from the bridge's own presence
        assert f"({bridge.name} draining)" in shown, shown
        host_exec(bridge, "docker", "exec", "jitsi-jvb", "rm", "/tmp/conferences", check=True)
        rest = drain.stdout.read()
        assert drain.wait(timeout=60) == 0, rest
    assert "no conference was on it when it stopped" in rest, rest
    assert jvb_state(bridge) == "exited"
    wait_bridges(core, 1)
    smoke = site.fab("smoke", "--resolve", f"{core.address}:443")
    assert f"jicofo lacks {bridge.name}" in smoke.stdout, smoke.stdout

    health = host_exec(bridge, "/usr/local/sbin/jitsi-health")
    assert health.returncode == 0, host_exec(bridge, "tail", paths.HEALTH_LOG).stdout
    report = host_exec(bridge, "/usr/local/sbin/jitsi-health", "--report").stdout
    assert "drained  jvb: stopped by fab drain" in report, report
    assert jvb_state(bridge) == "exited", "the health check restarted a drained bridge"

    back = site.fab("-H", bridge.name, "deploy")
    assert back.returncode == 0, back.stdout + back.stderr
    assert jvb_state(bridge) == "running"
    assert host_exec(bridge, "test", "-e", paths.BRIDGE_DRAINED).returncode == 1
    wait_bridges(core, 2)


def test_draining_every_bridge_of_the_site_is_refused_before_any_host_is_touched(
    site: Site,
) -> None:
    core, bridge = site.hosts
    refused = site.fab("-H", f"{core.name},{bridge.name}", "drain")
    assert refused.returncode != 0
    assert "would leave the site no video bridge" in refused.stdout + refused.stderr
    assert jvb_state(core) == jvb_state(bridge) == "running"
