"""The wanted monitors, their hash and the pure parts of the converge; no Docker, no Kuma."""

from __future__ import annotations

import socket
import string
import time
from dataclasses import replace

import pytest

from jitsi_deploy.monitoring.kuma import Admin, Retry, converge, kuma_fields, missing_types
from jitsi_deploy.monitoring.monitors import (
    HTTP,
    KEYWORD,
    PREFIX,
    PUSH,
    PUSH_TOKEN_LENGTH,
    WEBSOCKET_KEYWORD,
    WEBSOCKET_UPGRADE,
    HostSpec,
    Smtp,
    push_token,
    push_url,
    wanted_hash,
    wanted_monitors,
    wanted_notifications,
)

HOSTS = (
    HostSpec(
        "meet1",
        "core",
        "tokencore",
        containers=(("web", "tokenweb"), ("jvb", "tokenjvb")),
        bridges=(("meet1", "tokenbridgecore"), ("jvb1", "tokenbridgejvb1")),
    ),
    HostSpec("jvb1", "jvb", "tokenjvb1", containers=(("jvb", "tokenjvb1jvb"),)),
)


def build(**overrides):
    arguments = {
        "public_url": "https://meet.example.org",
        "monitor_hostname": "status.example.org",
        "hosts": HOSTS,
    }
    return wanted_monitors(**(arguments | overrides))


def by_name(monitors):
    return {m.name.removeprefix(PREFIX): m for m in monitors}


def test_the_core_host_carries_the_site_and_every_host_and_container_a_push_monitor():
    found = by_name(build())
    assert sorted(found) == sorted(
        [
            "meet1: site",
            "meet1: BOSH",
            "meet1: XMPP websocket",
            "meet1: status site",
            "meet1: container web",
            "meet1: container jvb",
            "meet1: health check",
            "meet1: bridge meet1 in jicofo",
            "meet1: bridge jvb1 in jicofo",
            "jvb1: health check",
            "jvb1: container jvb",
        ]
    )
    site = found["meet1: site"]
    assert (site.type, site.url) == (HTTP, "https://meet.example.org/")
    assert site.expiry_notification
    bosh = found["meet1: BOSH"]
    assert (bosh.type, bosh.url) == (KEYWORD, "https://meet.example.org/http-bind")
    assert found["meet1: status site"].expiry_notification
    push = found["jvb1: health check"]
    assert (push.type, push.push_token) == (PUSH, "tokenjvb1")
    container = found["meet1: container web"]
    assert (container.type, container.push_token) == (PUSH, "tokenweb")
    assert found["jvb1: container jvb"].push_token == "tokenjvb1jvb"
    # The core's health check reports each bridge it expects in jicofo's brewery.
    assert found["meet1: bridge jvb1 in jicofo"].push_token == "tokenbridgejvb1"


def test_the_websocket_monitor_and_its_fallback_share_the_name():
    websocket = by_name(build())["meet1: XMPP websocket"]
    assert (websocket.type, websocket.url) == (
        WEBSOCKET_UPGRADE,
        "wss://meet.example.org/xmpp-websocket",
    )
    assert websocket.ws_subprotocol == "xmpp"
    fallback = websocket.fallback
    assert fallback is not None and fallback.name == websocket.name
    assert (fallback.type, fallback.keyword) == (KEYWORD, WEBSOCKET_KEYWORD)
    assert fallback.url == "https://meet.example.org/xmpp-websocket"


def test_plain_http_sites_get_ws_and_no_certificate_notice():
    found = by_name(build(public_url="http://prosody:5280/", monitor_hostname=""))
    assert found["meet1: XMPP websocket"].url == "ws://prosody:5280/xmpp-websocket"
    assert not found["meet1: site"].expiry_notification
    assert "meet1: status site" not in found


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ((HostSpec("a", "core", "t"), HostSpec("a", "jvb", "u")), "unique"),
        ((HostSpec("a", "edge", "t"),), "role"),
        ((HostSpec("a", "core", ""),), "push token"),
        ((HostSpec("a", "jvb", "t", containers=(("jvb", ""),)),), "push token"),
        ((HostSpec("a", "core", "t", bridges=(("b", ""),)),), "push token"),
        ((HostSpec("a", "core", "t"), HostSpec("b", "core", "u")), "one core host"),
    ],
)
def test_impossible_host_lists_are_refused(hosts, message):
    with pytest.raises(ValueError, match=message):
        build(hosts=hosts)


def test_public_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        build(public_url="meet.example.org")


def test_push_tokens_are_stable_distinct_and_fit_kuma():
    token = push_token("secret", "meet1")
    assert token == push_token("secret", "meet1")
    assert token != push_token("secret", "jvb1")
    assert token != push_token("other secret", "meet1")
    containers = {push_token("secret", "meet1", s) for s in ("web", "jvb")}
    assert len(containers | {token}) == 3  # a container's token is not its host's
    assert len(token) == PUSH_TOKEN_LENGTH
    assert set(token) <= set(string.ascii_lowercase + string.digits)
    assert push_url("http://127.0.0.1:3001/", token) == f"http://127.0.0.1:3001/api/push/{token}"


def test_notifications_from_settings():
    assert wanted_notifications() == []
    hook = "https://hooks.example.org/x"
    smtp = Smtp("mail.example.org", "kuma@example.org", "ops@example.org", 465, implicit_tls=True)
    webhook, email = wanted_notifications(webhook_url=hook, smtp=smtp)
    assert (webhook.type, webhook.settings["webhookURL"]) == ("webhook", hook)
    assert (email.type, email.settings["smtpPort"], email.settings["smtpSecure"]) == (
        "smtp",
        465,
        True,
    )
    assert webhook.name.startswith(PREFIX) and email.name.startswith(PREFIX)


def test_the_wanted_hash_follows_every_wanted_field():
    monitors = build()
    notifications = wanted_notifications(webhook_url="https://hooks.example.org/x")
    same = wanted_hash(build(), wanted_notifications(webhook_url="https://hooks.example.org/x"))
    assert wanted_hash(monitors, notifications) == same
    moved = [replace(m, url=m.url + "x") if m.type == HTTP else m for m in monitors]
    assert wanted_hash(moved, notifications) != same
    assert wanted_hash(monitors, []) != same
    smaller = build(hosts=HOSTS[:1])
    assert wanted_hash(smaller, notifications) != same
    assert len(same) == 64


@pytest.mark.parametrize(
    ("version", "missing"),
    [
        ("2.0.0-dev.0", {WEBSOCKET_UPGRADE}),
        ("2.0.2", {WEBSOCKET_UPGRADE}),
        ("1.23.16", {WEBSOCKET_UPGRADE}),
        ("2.1.0-beta.0", set()),
        ("2.5.1", set()),
        ("10.0.0", set()),
        ("nightly", {WEBSOCKET_UPGRADE}),
        (None, {WEBSOCKET_UPGRADE}),
    ],
)
def test_monitor_types_by_kuma_version(version, missing):
    assert missing_types(version) == missing


def test_kuma_fields_are_the_managed_fields_of_each_type():
    found = by_name(build())
    websocket = kuma_fields(found["meet1: XMPP websocket"], [2, 1])
    assert websocket["wsSubprotocol"] == "xmpp" and websocket["accepted_statuscodes"] == ["1000"]
    assert websocket["notificationIDList"] == [1, 2]
    container = kuma_fields(found["meet1: container web"], [])
    assert container["pushToken"] == "tokenweb" and "url" not in container
    push = kuma_fields(found["jvb1: health check"], [])
    assert push["pushToken"] == "tokenjvb1" and "keyword" not in push


def test_a_wanted_list_that_cannot_converge_is_refused():
    site = by_name(build())["meet1: site"]
    with pytest.raises(ValueError, match="start with"):
        converge("http://127.0.0.1:9", Admin("a", "b"), [replace(site, name="site")])
    with pytest.raises(ValueError, match="unique"):
        converge("http://127.0.0.1:9", Admin("a", "b"), [site, site])


def test_an_unreachable_kuma_is_a_warning_after_the_retries():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()

    report = converge(url, Admin("admin", "pw"), build(), retry=Retry(3, 0.05, 0.1), timeout=2)

    assert report.attempts == 3 and not report.complete
    assert "gave no answer in 3 attempts" in report.warnings[0]
    assert time.monotonic() - started < 30
