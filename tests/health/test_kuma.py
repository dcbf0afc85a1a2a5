"""The health check and a real Uptime Kuma 2 (tests/kuma/image.py): it pushes each container's
state to its push monitor, and it closes the status site (removes nginx's ready mark) while
Kuma has no admin.

The stack is the stand-in stack of the other health tests; Kuma runs beside it on a network of
its own, published on 127.0.0.1 only, as the deploy runs it. Kuma's monitors are provisioned
with the product's converge, and what Kuma recorded is read back with a client of the test's own.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from healthstack import Stack
from uptime_kuma_api import MonitorStatus, UptimeKumaApi

from jitsi_deploy.monitoring.kuma import Admin, Retry, converge
from jitsi_deploy.monitoring.monitors import (
    PREFIX,
    HostSpec,
    bridge_subject,
    push_token,
    push_url,
    wanted_monitors,
)
from tests.kuma import containers
from tests.kuma.image import ensure_image

SECRET = "secret-of-the-health-test"
HOST = "meet1"
PUSHED = ("web", "prosody", "jicofo", "jvb")  # every service but Kuma's own
# The bridges jicofo should see: the stack's own (nickname jvb1) and one that never joins.
BRIDGES = ("jvb1", "jvb2")
ADMIN = Admin("admin", "health-" + os.urandom(6).hex())


@pytest.fixture
def kuma() -> Iterator[containers.Kuma]:
    network = f"jitsi-deploy-health-kuma-{os.getpid()}"
    containers.create_network(network)
    name = f"{network}-kuma"
    try:
        yield containers.start_kuma(ensure_image(), name, network)
    finally:
        containers.remove(name)
        containers.remove_network(network)


def configure(stack: Stack, kuma: containers.Kuma, ready: Path) -> None:
    pushes = [f"{s} {push_url(kuma.url, push_token(SECRET, HOST, s))}" for s in PUSHED]
    about = [f"{b} {push_url(kuma.url, bridge_token(b))}" for b in BRIDGES]
    debug = f"http://127.0.0.1:{stack.ports['jicofo']}/debug"
    stack.configure(KUMA_URL=kuma.url, KUMA_READY=str(ready), JICOFO_DEBUG_URL=debug)
    with stack.config.open("a") as config:
        for name, entries in (("CONTAINER_PUSHES", pushes), ("BRIDGE_PUSHES", about)):
            config.write(f"{name}=(\n" + "".join(f"  '{e}'\n" for e in entries) + ")\n")


def bridge_token(nickname: str) -> str:
    return push_token(SECRET, HOST, bridge_subject(nickname))


def provision(kuma: containers.Kuma) -> None:
    containers_ = tuple((s, push_token(SECRET, HOST, s)) for s in PUSHED)
    bridges = tuple((b, bridge_token(b)) for b in BRIDGES)
    hosts = [HostSpec(HOST, "core", push_token(SECRET, HOST), containers_, bridges)]
    monitors = wanted_monitors(public_url="http://127.0.0.1:9/", monitor_hostname="", hosts=hosts)
    pushes = [m for m in monitors if m.name.startswith(WATCHED)]
    report = converge(kuma.url, ADMIN, pushes, retry=Retry(5, 0.5, 2.0))
    assert report.complete, report.warnings


WATCHED = tuple(f"{PREFIX}{HOST}: {kind} " for kind in ("container", "bridge"))
# Each push monitor by what follows the host in its name.
MONITORS = (*(f"container {s}" for s in PUSHED), *(f"bridge {b} in jicofo" for b in BRIDGES))


def latest_beats(kuma: containers.Kuma, after: float) -> dict[str, dict[str, Any]]:
    """The newest heartbeat of each container and bridge monitor, once every one has one newer
    than ``after`` (a Unix time)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with UptimeKumaApi(kuma.url, timeout=15) as api:
            api.login(ADMIN.username, ADMIN.password)
            found = {m["name"].split(": ", 2)[2]: m["id"] for m in api.get_monitors()}
            beats = {name: api.get_monitor_beats(found[name], 1) for name in MONITORS}
        newest = {s: max(b, key=lambda beat: beat["time"]) for s, b in beats.items() if b}
        if len(newest) == len(MONITORS) and all(_when(b) > after for b in newest.values()):
            return newest
        time.sleep(1)
    raise AssertionError(f"no fresh heartbeat of every monitor: {beats}")


def _when(beat: dict[str, Any]) -> float:
    return time.mktime(time.strptime(beat["time"][:19], "%Y-%m-%d %H:%M:%S")) - time.timezone


def test_a_kuma_without_admin_closes_the_status_site(stack: Stack, kuma, tmp_path: Path):
    ready = tmp_path / "kuma-ready"
    ready.write_text("")
    configure(stack, kuma, ready)

    report = stack.run("--report")
    assert "FAIL  kuma-admin: Uptime Kuma has no admin" in report.stdout, report.stdout
    assert ready.exists()  # --report only looks

    stack.run()

    assert not ready.exists()
    (closed,) = stack.log_lines("ACTION")
    assert "closed the status site: Uptime Kuma has no admin" in closed
    provision(kuma)  # the next deploy claims it and puts the mark back
    ready.write_text("")
    report = stack.run("--report")
    assert "ok    kuma-admin" in report.stdout, report.stdout
    stack.run()
    assert ready.exists()


def test_each_container_and_bridge_reports_to_its_push_monitor(stack: Stack, kuma, tmp_path):
    provision(kuma)
    configure(stack, kuma, tmp_path / "kuma-ready")
    started = time.time() - 1

    assert stack.run().returncode == 0, stack.log.read_text()

    beats = latest_beats(kuma, started)
    for service in PUSHED:
        beat = beats[f"container {service}"]
        assert beat["status"] == MonitorStatus.UP, (service, beat)
        # "<container>=<state>/<health>", the name as Compose v1 or v2 made it
        assert re.fullmatch(rf"{stack.project}[-_]{service}[-_]1=running/healthy", beat["msg"])
    # From jicofo's /debug, by nickname: its own bridge is in, the other never joined.
    joined, never = beats["bridge jvb1 in jicofo"], beats["bridge jvb2 in jicofo"]
    assert (joined["status"], joined["msg"]) == (
        MonitorStatus.UP,
        "bridge jvb1 in jicofo's brewery",
    )
    assert (never["status"], never["msg"]) == (
        MonitorStatus.DOWN,
        "jicofo's brewery lacks bridge jvb2",
    )

    stack.exec("jicofo", "touch", "/tmp/fault-health")  # its health endpoint answers 500
    assert stack.fault_seen_within()
    time.sleep(1)  # Kuma keeps times to the second
    failed = time.time() - 1
    stack.run()

    beats = latest_beats(kuma, failed)
    jicofo = beats["container jicofo"]
    assert jicofo["status"] == MonitorStatus.DOWN
    assert "jicofo-health: http://127.0.0.1:" in jicofo["msg"], jicofo
    assert beats["container web"]["status"] == MonitorStatus.UP
    # jicofo answers nothing: no bridge can be said to be in its brewery.
    assert beats["bridge jvb1 in jicofo"]["status"] == MonitorStatus.DOWN
