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
    push_token,
    push_url,
    wanted_monitors,
)
from tests.kuma import containers
from tests.kuma.image import ensure_image

SECRET = "secret-of-the-health-test"
HOST = "meet1"
PUSHED = ("web", "prosody", "jicofo", "jvb")  # every service but Kuma's own
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
    stack.configure(KUMA_URL=kuma.url, KUMA_READY=str(ready))
    with stack.config.open("a") as config:
        config.write("CONTAINER_PUSHES=(\n" + "".join(f"  '{p}'\n" for p in pushes) + ")\n")


def provision(kuma: containers.Kuma) -> None:
    containers_ = tuple((s, push_token(SECRET, HOST, s)) for s in PUSHED)
    hosts = [HostSpec(HOST, "core", push_token(SECRET, HOST), containers_)]
    monitors = wanted_monitors(public_url="http://127.0.0.1:9/", monitor_hostname="", hosts=hosts)
    pushes = [m for m in monitors if m.name.startswith(f"{PREFIX}{HOST}: container ")]
    report = converge(kuma.url, ADMIN, pushes, retry=Retry(5, 0.5, 2.0))
    assert report.complete, report.warnings


def latest_beats(kuma: containers.Kuma, after: float) -> dict[str, dict[str, Any]]:
    """The newest heartbeat of each container monitor, once every one has one newer than
    ``after`` (a Unix time)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with UptimeKumaApi(kuma.url, timeout=15) as api:
            api.login(ADMIN.username, ADMIN.password)
            found = {m["name"].rsplit(" ", 1)[1]: m["id"] for m in api.get_monitors()}
            beats = {s: api.get_monitor_beats(found[s], 1) for s in PUSHED}
        newest = {s: max(b, key=lambda beat: beat["time"]) for s, b in beats.items() if b}
        if len(newest) == len(PUSHED) and all(_when(b) > after for b in newest.values()):
            return newest
        time.sleep(1)
    raise AssertionError(f"no fresh heartbeat of every container: {beats}")


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


def test_each_container_reports_its_state_to_its_push_monitor(stack: Stack, kuma, tmp_path):
    provision(kuma)
    configure(stack, kuma, tmp_path / "kuma-ready")
    started = time.time() - 1

    assert stack.run().returncode == 0, stack.log.read_text()

    beats = latest_beats(kuma, started)
    for service, beat in beats.items():
        assert beat["status"] == MonitorStatus.UP, (service, beat)
        # "<container>=<state>/<health>", the name as Compose v1 or v2 made it
        assert re.fullmatch(rf"{stack.project}[-_]{service}[-_]1=running/healthy", beat["msg"])

    stack.exec("jicofo", "touch", "/tmp/fault-health")  # its health endpoint answers 500
    assert stack.fault_seen_within()
    time.sleep(1)  # Kuma keeps times to the second
    failed = time.time() - 1
    stack.run()

    beats = latest_beats(kuma, failed)
    assert beats["jicofo"]["status"] == MonitorStatus.DOWN
    assert "jicofo-health: http://127.0.0.1:" in beats["jicofo"]["msg"], beats["jicofo"]
    assert beats["web"]["status"] == MonitorStatus.UP
