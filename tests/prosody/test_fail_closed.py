"""Settings the room policy refuses close every room, and the health route says so.

Same real servers as test_room_policy.py (Prosody 0.12.3 here, 13.0.1 in a trixie container).
The health route is read with curl at 127.0.0.1 from the server's own network namespace (the
container's, entered with nsenter), which is where the host's health script runs it:
``docker compose exec prosody curl -fsS http://127.0.0.1:5280/room-policy-health``.
"""

from __future__ import annotations

import uuid

import pytest

from .conftest import GetServer
from .policies import BOARD_PASSWORD, BROKEN, DEFAULT_PASSWORD, FOCUS, PUBLIC_ROOM, RECORDER
from .server import Prosody, http_get, http_get_from_host
from .xmpp import BREAKOUT_DOMAIN, Refusal, Sessions, run, unique

HEALTH = "/room-policy-health"
CLOSED = Refusal(
    "cancel", "not-allowed", "Rooms are closed: the server's room policy settings are broken"
)
REFUSED_LINE = "room policy: settings refused, every room is closed until they are fixed: "


def test_health_is_ok_with_good_settings(prosody: Prosody) -> None:
    assert http_get(prosody, HEALTH) == (200, "ok\n")
    # A global route: the Host the request names does not matter.
    assert http_get(prosody, HEALTH, "Host: muc.meet.jitsi") == (200, "ok\n")
    assert http_get(prosody, HEALTH, "Host: meet.example.org") == (200, "ok\n")


def test_health_answers_loopback_clients_only(prosody: Prosody) -> None:
    # Through a proxy on loopback (a trusted proxy by default) the client is the forwarded one.
    status, _ = http_get(prosody, HEALTH, "X-Forwarded-For: 203.0.113.9")
    assert status == 403
    if prosody.container:
        status, _ = http_get_from_host(prosody, HEALTH)
        assert status == 403


@pytest.mark.parametrize("broken", BROKEN.keys())
def test_refused_settings_close_every_room(
    prosody_servers: GetServer, version: str, broken: str
) -> None:
    server = prosody_servers(version, broken)
    reason = BROKEN[broken][1]

    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        recorder = await sessions.account(*RECORDER)
        user = await sessions.user()
        rooms = (
            PUBLIC_ROOM,
            f"[acme]{PUBLIC_ROOM}",
            unique("private-x"),
            unique("weekly"),
            "__jicofo-health-check-42",
            f"{uuid.uuid4()}@{BREAKOUT_DOMAIN}",
        )
        for room in rooms:
            assert await focus.join(room) == CLOSED, room
            assert await recorder.join(room) == CLOSED, room
            assert await user.join(room) == CLOSED, room
            assert await user.join(room, password=DEFAULT_PASSWORD) == CLOSED, room

    run(server, scenario)

    assert http_get(server, HEALTH) == (503, f"broken: {reason}\n")
    log = server.log_text()
    # Said once per component (the main and the breakout rooms' MUC), at load, at level error,
    # however many joins were refused since.
    refused = [line for line in log.splitlines() if REFUSED_LINE in line]
    hosts = sorted(line.split(":room_policy")[0].split()[-1] for line in refused)
    assert hosts == ["breakout.meet.jitsi", "muc.meet.jitsi"], refused
    for line in refused:
        assert "\terror\t" in line
        assert line.endswith(REFUSED_LINE + reason)
    assert "room policy: 0 public rooms" not in log
    assert "room policy: 1 public rooms" not in log
    for secret in (DEFAULT_PASSWORD, BOARD_PASSWORD):
        assert secret not in log
