"""`fab smoke`'s web checks against a real stack: Prosody 13 (BOSH, websocket, the room policy)
behind the project's rendered nginx site with the deploy's self-signed placeholder certificate.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke import report, xmpp
from jitsi_deploy.smoke.checks import Result, Target, web_results

from . import stack

GOOD = "127.0.75.1"
BROKEN = "127.0.75.2"
PRIVATE_ROOM, PASSWORD = "private-board", "Board-Secret-93ac7e"
ROOMS = RoomPolicy(
    public_rooms=("daily-standup",),
    default_password="Default-Secret-6d1f0b",
    room_passwords={PRIVATE_ROOM: PASSWORD},
    other_rooms="deny",
)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("smoke")
    with (
        stack.prosody(ROOMS) as prosody,
        stack.site(root, GOOD, f"{prosody.address}:{prosody.http_port}") as site,
    ):
        yield _target(site, GOOD)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The same site rendered for an upstream where nothing listens (a wrong web port). The
    port stays bound, never listening, for the module: connections to it are refused, and no
    other server of the run can take it (one that accepted and never answered held nginx for
    its 60 s timeout)."""
    root = tmp_path_factory.mktemp("smoke-broken")
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        upstream = f"127.0.0.1:{refusing.getsockname()[1]}"
        with stack.site(root, BROKEN, upstream) as site:
            yield _target(site, BROKEN)


def _target(site: stack.Site, address: str) -> Target:
    endpoint = site.endpoint
    return Target(
        endpoint.public_url,
        ROOMS,
        core_address=address,
        connect_to=endpoint.connect_to,
        ca_file=str(site.certificate),
    )


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {result.name: result for result in results}


def test_every_web_check_passes_on_a_working_site(good: Target) -> None:
    results = web_results(good)
    assert report.passed(results), "\n".join(report.lines(results))
    found = _by_name(results)
    assert found["TLS certificate"].detail.startswith(f"{stack.MEET_HOST}: self-signed")
    assert found["public room"].detail == "'daily-standup' joined without a password"
    assert (
        "asks for a password (auth/not-authorized)" in found["private room without password"].detail
    )
    assert (
        found["private room with password"].detail == f"'{PRIVATE_ROOM}' joined with its password"
    )
    assert "This room does not exist on this server" in found["unknown room refused"].detail
    parsed = json.loads(report.as_json(results))
    assert parsed["ok"] is True
    # This stack has no TURN server (tests/e2e/test_turn.py proves those checks on one).
    turn = ("TURN over TLS on 443", "TURN over UDP", "TURN refusals")
    expected = ["skip" if c["name"] in turn else "pass" for c in parsed["checks"]]
    assert [c["status"] for c in parsed["checks"]] == expected
    assert found["TURN over UDP"].detail == "TURN_HOSTNAME is empty: the site has no TURN server"


@pytest.mark.parametrize("transport", ["bosh", "websocket"])
def test_a_wrong_private_password_is_refused(good: Target, transport: str) -> None:
    with xmpp.session(transport, good.endpoint) as user:
        refusal = user.join(PRIVATE_ROOM, "Wrong-Guess-5e2b44")
    assert refusal == xmpp.Refusal("auth", "not-authorized")


def test_the_placeholder_certificate_is_named_plainly(good: Target) -> None:
    untrusted = _by_name(web_results(replace(good, ca_file="")))["TLS certificate"]
    assert untrusted.status == "fail"
    assert "the deploy's self-signed placeholder is not trusted" in untrusted.detail
    chosen = web_results(replace(good, ca_file="", self_signed_ok=True))
    assert report.passed(chosen), "\n".join(report.lines(chosen))
    assert "self-signed placeholder" in _by_name(chosen)["TLS certificate"].detail


def test_a_broken_route_fails_bosh_and_websocket_with_their_meaning(broken: Target) -> None:
    results = web_results(broken)
    found = _by_name(results)
    assert found["TLS certificate"].status == "pass"
    for name in ("page", "BOSH", "websocket", "public room"):
        assert found[name].status == "fail", found[name]
    assert "HTTP 502" in found["BOSH"].detail
    text = "\n".join(report.lines(results))
    assert "FAIL  BOSH: no session:" in text
    assert "-> the /http-bind route or PUBLIC_URL is wrong" in text
    assert "-> the /xmpp-websocket route" in text
    parsed = json.loads(report.as_json(results))
    assert parsed["ok"] is False


@pytest.mark.parametrize(
    ("login", "session"),
    [("guest", "anonymous session "), ("account", "stream open, login with an account")],
)
def test_sites_with_accounts_check_the_routes_and_skip_the_rooms(
    good: Target, login: str, session: str
) -> None:
    results = _by_name(web_results(replace(good, login=login)))
    for transport in ("BOSH", "websocket"):
        assert results[transport].detail.startswith(session), results[transport]
    if login == "guest":
        assert "@guest.meet.jitsi/" in results["BOSH"].detail
    for room in ("public room", "private room without password", "private room with password"):
        assert results[room].status == "skip"
        assert results[room].detail.startswith("ENABLE_AUTH=1")
