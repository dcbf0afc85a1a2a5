"""The converge against a real Uptime Kuma 2 (the npm 2.0.0-dev.0 snapshot, see image.py).

Kuma's targets are real too: a Prosody 13 answers /http-bind and /xmpp-websocket as the Jitsi
prosody container does behind the web container (here reached directly on plain HTTP, without
the host nginx and TLS in front). Containers are push monitors, fed by the host's health check
(tests/health runs the script against this Kuma); here their push URLs are called as it calls
them. What Kuma holds is read back with a separate client session, independent of the code
under test.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from uptime_kuma_api import MonitorStatus, MonitorType, UptimeKumaApi, UptimeKumaException

from jitsi_deploy.monitoring.kuma import Admin, Retry, converge
from jitsi_deploy.monitoring.monitors import (
    BOSH_KEYWORD,
    PREFIX,
    WEBSOCKET_KEYWORD,
    HostSpec,
    Monitor,
    Notification,
    Smtp,
    push_token,
    push_url,
    wanted_monitors,
    wanted_notifications,
)

from . import containers
from .conftest import MakeKuma

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ADMIN = Admin("admin", "kuma-test-" + os.urandom(6).hex())
SECRET = "generated-secret-of-the-deployment"
FAST = Retry(attempts=10, first_delay=0.5, max_delay=4.0)
HAND_MADE = "My own check"


CORE_SERVICES = ("web", "prosody", "jicofo", "jvb")


def host(name: str, role: str, services: tuple[str, ...]) -> HostSpec:
    containers = tuple((s, push_token(SECRET, name, s)) for s in services)
    return HostSpec(name, role, push_token(SECRET, name), containers)


def deployment(
    prosody: str, bridges: tuple[str, ...] = ("jvb1", "jvb2")
) -> tuple[list[Monitor], list[Notification]]:
    """A core host and bridges; every target is a test container or pinned to Kuma's loopback."""
    hosts = [host("meet1", "core", CORE_SERVICES)]
    hosts += [host(name, "jvb", ("jvb",)) for name in bridges]
    monitors = wanted_monitors(public_url=prosody, monitor_hostname="status.kuma.test", hosts=hosts)
    smtp = Smtp("mail.kuma.test", "kuma@kuma.test", "ops@kuma.test", port=2525, password="pw")
    return monitors, wanted_notifications(webhook_url="http://hooks.kuma.test:9/alert", smtp=smtp)


@contextmanager
def session(url: str) -> Iterator[UptimeKumaApi]:
    """A client of our own, to read back what Kuma holds."""
    with UptimeKumaApi(url, timeout=15) as api:
        api.login(ADMIN.username, ADMIN.password)
        yield api


def monitors_by_name(api: UptimeKumaApi) -> dict[str, dict[str, Any]]:
    found = settled_monitors(api)
    names = [m["name"] for m in found]
    assert len(names) == len(set(names)), f"duplicate monitors: {sorted(names)}"
    return {m["name"]: m for m in found}


def settled_monitors(api: UptimeKumaApi, limit: float = 20.0) -> list[dict[str, Any]]:
    """The monitor list once it stops changing. Kuma sends the whole list to every session of
    the user after each change, computed concurrently: the list computed after one of several
    deletions in a row can reach a new session after its own, fresh list (seen under load)."""
    deadline = time.monotonic() + limit
    found = api.get_monitors()
    while time.monotonic() < deadline:
        time.sleep(1)
        again = api.get_monitors()
        if again == found:
            break
        found = again
    return found


def monitors_once_gone(url: str, deleted: list[str], limit: float = 30.0) -> dict[str, dict]:
    """The monitors by name, read in a new session each time until none of ``deleted`` is
    listed (or ``limit`` seconds passed, and the last list fails the assertion that follows).
    After deletions in a row, a list Kuma computed before the last one can reach a session after
    the fresh one and stay its last word: only a new login is sure to get a list made after."""
    deadline = time.monotonic() + limit
    while True:
        with session(url) as api:
            found = monitors_by_name(api)
        if not set(deleted) & set(found) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def names(monitors: list[Monitor]) -> list[str]:
    return [m.name for m in monitors]


def test_first_run_claims_kuma_and_provisions_every_monitor(make_kuma: MakeKuma, prosody: str):
    kuma = make_kuma(wait=False)  # provisioning starts while Kuma is still starting
    monitors, notifications = deployment(prosody)

    report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert report.complete, report.warnings
    assert set(names(monitors)) <= set(report.created)
    assert not report.edited and not report.deleted
    with UptimeKumaApi(kuma.url, timeout=15) as api:
        assert not api.need_setup()
        with pytest.raises(UptimeKumaException, match="initialized"):
            api.setup("intruder", "intruder-password-1")
    with session(kuma.url) as api:
        found = monitors_by_name(api)
        notification_ids = sorted(n["id"] for n in api.get_notifications())
        docker_hosts = api.get_docker_hosts()
    assert sorted(found) == sorted(names(monitors))
    assert len(notification_ids) == 2
    assert docker_hosts == []  # Kuma holds no Docker socket: nothing to register
    for monitor in monitors:
        kept = found[monitor.name]
        assert sorted(kept["notificationIDList"]) == notification_ids, monitor.name
        if monitor.fallback is None:
            assert kept["type"] == monitor.type, monitor.name
            assert (kept["url"] or "") == monitor.url, monitor.name
    core = f"{PREFIX}meet1: "
    assert found[f"{core}BOSH"]["keyword"] == BOSH_KEYWORD
    assert found[f"{core}status site"]["expiryNotification"] is True
    for name in ("meet1", "jvb1", "jvb2"):
        push = found[f"{PREFIX}{name}: health check"]
        assert (push["type"], push["pushToken"]) == (MonitorType.PUSH, push_token(SECRET, name))
    for name, services in (("meet1", CORE_SERVICES), ("jvb1", ("jvb",)), ("jvb2", ("jvb",))):
        for service in services:
            push = found[f"{PREFIX}{name}: container {service}"]
            token = push_token(SECRET, name, service)
            assert (push["type"], push["pushToken"]) == (MonitorType.PUSH, token)
    assert not any(m["type"] == "docker" for m in found.values())


def test_notifications_carry_the_settings(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    with session(kuma.url) as api:
        found = {n["name"]: n for n in api.get_notifications()}
    for notification in notifications:
        kept = found[notification.name]
        assert kept["type"] == notification.type
        assert {k: kept[k] for k in notification.settings} == dict(notification.settings)


def test_a_changed_alert_channel_is_edited_and_a_dropped_one_deleted(
    kuma: containers.Kuma, prosody: str
):
    monitors, (webhook, email) = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, [webhook, email], retry=FAST).complete
    moved = replace(
        webhook, settings={**webhook.settings, "webhookURL": "http://hooks.kuma.test:9/b"}
    )

    report = converge(kuma.url, ADMIN, monitors, [moved], retry=FAST)

    assert report.complete, report.warnings
    assert report.edited == [f"notification {webhook.name}"]
    assert report.deleted == [f"notification {email.name}"]
    assert not report.created
    with session(kuma.url) as api:
        (kept,) = api.get_notifications()
        assert kept["webhookURL"] == "http://hooks.kuma.test:9/b"
        for monitor in api.get_monitors():
            assert monitor["notificationIDList"] == [kept["id"]], monitor["name"]


def test_the_push_url_of_a_host_marks_its_monitor_up(kuma: containers.Kuma, prosody: str):
    """What the host's health check sends each run (it appends status, msg and ping)."""
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    url = push_url(kuma.url, push_token(SECRET, "jvb1"))

    with urllib.request.urlopen(f"{url}?status=up&msg=all%20checks%20ok&ping=", timeout=10) as r:
        assert json.load(r) == {"ok": True}

    with session(kuma.url) as api:
        push = monitors_by_name(api)[f"{PREFIX}jvb1: health check"]
        beat = first_beat(api, push["id"])
    assert (beat["status"], beat["msg"]) == (MonitorStatus.UP, "all checks ok")


def test_second_run_creates_and_edits_nothing(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete

    again = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert again.complete, again.warnings
    assert (again.created, again.edited, again.deleted) == ([], [], [])
    assert set(names(monitors)) <= set(again.unchanged)


def test_a_changed_target_edits_exactly_that_monitor(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    with session(kuma.url) as api:
        before = monitors_by_name(api)
    bosh = f"{PREFIX}meet1: BOSH"
    changed = [replace(m, url=f"{prosody}/moved") if m.name == bosh else m for m in monitors]

    report = converge(kuma.url, ADMIN, changed, notifications, retry=FAST)

    assert (report.created, report.edited, report.deleted) == ([], [bosh], [])
    with session(kuma.url) as api:
        after = monitors_by_name(api)
    assert after[bosh]["url"] == f"{prosody}/moved"
    assert after[bosh]["id"] == before[bosh]["id"]


def test_a_removed_host_loses_its_monitors_and_hand_made_ones_survive(
    kuma: containers.Kuma, prosody: str
):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    with session(kuma.url) as api:
        api.add_monitor(type=MonitorType.HTTP, name=HAND_MADE, url=f"{prosody}/mine")
        # Close to the prefix but not it: still a person's.
        api.add_monitor(type=MonitorType.HTTP, name="jitsi-deploy meet1", url=f"{prosody}/x")
    smaller, _ = deployment(prosody, bridges=("jvb1",))

    report = converge(kuma.url, ADMIN, smaller, notifications, retry=FAST)

    assert sorted(report.deleted) == [f"{PREFIX}jvb2: container jvb", f"{PREFIX}jvb2: health check"]
    assert (report.created, report.edited) == ([], [])
    found = monitors_once_gone(kuma.url, report.deleted)
    assert sorted(found) == sorted([*names(smaller), HAND_MADE, "jitsi-deploy meet1"])
    assert found[HAND_MADE]["url"] == f"{prosody}/mine"
    assert found[HAND_MADE]["notificationIDList"] == []


def test_managed_items_changed_by_hand_are_put_back(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    bosh, web = f"{PREFIX}meet1: BOSH", f"{PREFIX}meet1: container web"
    with session(kuma.url) as api:
        found = monitors_by_name(api)
        api.edit_monitor(found[bosh]["id"], keyword="changed by hand")
        api.edit_monitor(found[web]["id"], pushToken="changedbyhand")

    report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert sorted(report.edited) == sorted([bosh, web])
    with session(kuma.url) as api:
        found = monitors_by_name(api)
    assert found[bosh]["keyword"] == BOSH_KEYWORD
    assert found[web]["pushToken"] == push_token(SECRET, "meet1", "web")


def test_the_docker_host_of_an_earlier_deploy_is_deleted(kuma: containers.Kuma, prosody: str):
    """Earlier versions registered the socket for Docker monitors; Kuma has none now."""
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    earlier = f"{PREFIX}local Docker"
    with session(kuma.url) as api:
        api.add_docker_host(name=earlier, dockerType="socket", dockerDaemon="/var/run/docker.sock")
        api.add_docker_host(name="my own engine", dockerType="tcp", dockerDaemon="tcp://x:2375")

    report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert report.deleted == [f"docker host {earlier}"]
    with session(kuma.url) as api:
        assert [h["name"] for h in api.get_docker_hosts()] == ["my own engine"]


def test_a_duplicate_of_a_managed_monitor_is_removed(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    site = f"{PREFIX}meet1: site"
    with session(kuma.url) as api:
        api.add_monitor(type=MonitorType.HTTP, name=site, url=f"{prosody}/")

    report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert report.deleted == [site] and not report.created and not report.edited
    with session(kuma.url) as api:
        assert sorted(monitors_by_name(api)) == sorted(names(monitors))


def test_kuma_restarting_during_provisioning_is_retried(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody, bridges=tuple(f"jvb{i}" for i in range(8)))

    class RestartOnFirstMonitor(logging.Handler):
        restarted = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.restarted and record.getMessage().startswith(f"created {PREFIX}meet1"):
                self.restarted = True
                kuma.restart()  # returns once Kuma's process is starting again

    handler = RestartOnFirstMonitor()
    logger = logging.getLogger("jitsi_deploy.monitoring.kuma")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST, timeout=5)
    finally:
        logger.removeHandler(handler)

    assert handler.restarted
    assert report.attempts > 1
    assert report.complete, report.warnings
    with session(kuma.url) as api:
        assert sorted(monitors_by_name(api)) == sorted(names(monitors))
    again = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)
    assert (again.created, again.edited, again.deleted) == ([], [], [])


def test_without_websocket_upgrade_the_fallback_watches_the_websocket_route(
    kuma: containers.Kuma, prosody: str
):
    """2.0.0-dev.0 has no websocket-upgrade type: the fallback keyword monitor takes the name and
    finds Prosody's websocket answer; BOSH is checked against the same real Prosody."""
    monitors, notifications = deployment(prosody)
    websocket = f"{PREFIX}meet1: XMPP websocket"

    report = converge(kuma.url, ADMIN, monitors, notifications, retry=FAST)

    assert report.fallbacks == [websocket]
    assert report.complete and not report.settled  # an upgraded Kuma would do better
    with session(kuma.url) as api:
        found = monitors_by_name(api)
        kept = found[websocket]
        assert kept["type"] == MonitorType.KEYWORD
        assert (kept["url"], kept["keyword"]) == (f"{prosody}/xmpp-websocket", WEBSOCKET_KEYWORD)
        for name in (websocket, f"{PREFIX}meet1: BOSH"):
            beat = first_beat(api, found[name]["id"])
            assert (beat["status"], "keyword is found" in beat["msg"]) == (MonitorStatus.UP, True)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).unchanged


def test_a_containers_push_url_carries_its_state_and_message(kuma: containers.Kuma, prosody: str):
    """What the health check sends for each container: down with its failed checks, then up."""
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete
    url = push_url(kuma.url, push_token(SECRET, "meet1", "jicofo"))
    down = "jicofo-health: http://127.0.0.1:8888/about/health: 503"

    with urllib.request.urlopen(f"{url}?status=down&msg={quote(down)}&ping=", timeout=10) as r:
        assert json.load(r) == {"ok": True}

    with session(kuma.url) as api:
        beat = first_beat(api, monitors_by_name(api)[f"{PREFIX}meet1: container jicofo"]["id"])
    assert (beat["status"], beat["msg"]) == (MonitorStatus.DOWN, down)


def test_a_wrong_admin_password_is_a_refusal_not_an_exception(kuma: containers.Kuma, prosody: str):
    monitors, notifications = deployment(prosody)
    assert converge(kuma.url, ADMIN, monitors, notifications, retry=FAST).complete

    report = converge(kuma.url, replace(ADMIN, password="not-it"), monitors, retry=FAST)

    assert report.attempts == 1 and report.refused  # the deploy fails on it (deploy/host.py)
    assert not report.complete and "refused the admin" in report.warnings[0]
    assert (report.created, report.edited, report.deleted) == ([], [], [])


def first_beat(api: UptimeKumaApi, monitor_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """The first heartbeat Kuma records for a monitor (it checks right after a monitor starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beats = api.get_monitor_beats(monitor_id, 1)
        if beats:
            return beats[0]
        time.sleep(0.5)
    raise AssertionError(f"monitor {monitor_id} had no heartbeat in {timeout}s")
