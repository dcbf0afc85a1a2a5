"""The TURN servers prosody hands to clients (XEP-0215, CONTRACT.md "prosody"): with the image's
TURN variables an anonymous user gets the list the template's external_services table makes,
with credentials coturn's use-auth-secret accepts; without them real Prosody has no such service.
Each refusal of a TURN setting the real site could not use is broken once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from jitsi_deploy.smoke import xmpp
from tests.standin.standins import Options, running

pytestmark = pytest.mark.docker

SECRET = "coturn-static-auth-secret"
TURN = "turn.meet.example.org"
# What the product sets: TURN on 3478 over UDP and TCP, TURNS on 443 (shared with nginx).
PRODUCT_TURN = {
    "TURN_HOST": TURN,
    "TURN_PORT": "3478",
    "TURN_TRANSPORT": "udp,tcp",
    "TURNS_HOST": TURN,
    "TURNS_PORT": "443",
    "TURN_CREDENTIALS": SECRET,
}


@contextmanager
def anonymous_user(image: str, options: Options, **env: str) -> Iterator[xmpp.Session]:
    options.env.update(env)
    with running(image, options) as container:
        container.wait_healthy()
        endpoint = xmpp.Endpoint(public_url=f"http://{container.address()}:5280")
        with xmpp.session("bosh", endpoint) as user:
            yield user


def shape(services: list[xmpp.ExternalService]) -> list[tuple[str, str, int | None, str]]:
    return [(s.type, s.host, s.port, s.transport) for s in services]


def assert_coturn_accepts(service: xmpp.ExternalService, ttl: int, asked: float) -> None:
    """draft-uberti-behave-turn-rest as coturn checks it: the username is the expiry time, the
    password base64(HMAC-SHA1(secret, username)); the expiry is the time asked plus the TTL."""
    expiry = int(service.username)
    assert asked + ttl - 5 <= expiry <= asked + ttl + 5, (service.username, asked)
    digest = hmac.new(SECRET.encode(), service.username.encode(), hashlib.sha1).digest()
    assert service.password == base64.b64encode(digest).decode()
    assert service.expires == datetime.fromtimestamp(expiry, UTC)
    assert service.restricted


def test_the_products_turn_settings_hand_out_turn_and_turns_with_coturn_credentials(
    images, prosody_options
):
    with anonymous_user(images["prosody"], prosody_options, **PRODUCT_TURN) as user:
        asked = time.time()
        services = user.external_services()
    assert shape(services) == [
        ("turn", TURN, 3478, "udp"),
        ("turn", TURN, 3478, "tcp"),
        ("turns", TURN, 443, "tcp"),
    ]
    for service in services:
        assert_coturn_accepts(service, 86400, asked)


def test_each_turn_host_per_transport_with_the_ttl_over_extdisco_1(images, prosody_options):
    """The template's loops: one turn entry per host and transport (host first), turns always
    tcp on TURNS_PORT (default 443); XEP-0215's older namespace gets the same answer."""
    env = {
        "TURN_HOST": "a.example.org,b.example.org",
        "TURN_PORT": "3478",
        "TURN_TRANSPORT": "udp,tcp",
        "TURNS_HOST": "a.example.org",
        "TURN_TTL": "600",
        "TURN_CREDENTIALS": SECRET,
    }
    with anonymous_user(images["prosody"], prosody_options, **env) as user:
        asked = time.time()
        services = user.external_services(xmpp.EXTDISCO_OLD)
    assert shape(services) == [
        ("turn", "a.example.org", 3478, "udp"),
        ("turn", "a.example.org", 3478, "tcp"),
        ("turn", "b.example.org", 3478, "udp"),
        ("turn", "b.example.org", 3478, "tcp"),
        ("turns", "a.example.org", 443, "tcp"),
    ]
    for service in services:
        assert_coturn_accepts(service, 600, asked)


def test_without_turn_settings_prosody_has_no_external_services(images, prosody_options):
    """The module is not loaded: real Prosody answers the query as any unknown IQ. The secret
    alone, as every site without a TURN server passes it, changes nothing."""
    prosody_options.env["TURN_CREDENTIALS"] = SECRET
    with (
        anonymous_user(images["prosody"], prosody_options) as user,
        pytest.raises(xmpp.XmppError, match="cancel/service-unavailable"),
    ):
        user.external_services()


REFUSALS = [
    (
        {"TURN_CREDENTIALS": SECRET, "STUN_HOST": "stun.example.org"},
        "STUN_HOST set without TURN_HOST or TURNS_HOST",
    ),
    (
        {**PRODUCT_TURN, "TURN_PORT": "3478a"},
        "TURN_PORT='3478a' is not a port (1-65535)",
    ),
    (
        {**PRODUCT_TURN, "TURN_CREDENTIALS": "half\\nsecret"},
        "TURN_CREDENTIALS contains a quote, backslash or line break",
    ),
]


@pytest.mark.parametrize(
    ("env", "said"), REFUSALS, ids=["secret-without-host", "port-not-a-number", "secret-escape"]
)
def test_a_turn_setting_the_real_site_cannot_use_stops_the_container(
    images, prosody_options, env: dict[str, str], said: str
):
    prosody_options.env.update(env)
    with running(images["prosody"], prosody_options) as container:
        assert container.wait_exit() == 1
        assert said in container.logs()
