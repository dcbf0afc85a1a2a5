"""Breakout rooms under the room policy, in a real Prosody (0.12.3 here, 13.0.1 in a container).

Jitsi's breakout rooms live on their own MUC component, breakout.meet.jitsi, configured here as
the prosody image at stable-11146-2 configures it, with the room policy loaded there as
XMPP_BREAKOUT_MUC_MODULES loads it. They are joined by a random UUID name, without passing
through the main room. Jitsi's mod_muc_breakout_rooms (package jitsi-meet-prosody, which cannot
be installed here) is what names a breakout room and links it to its main room on the server; a
test module (plugins/mod_breakout_link_standin.lua) plays that part, and only that part, so the
policy's own refusal of unlinked breakout rooms is what the tests see.
"""

from __future__ import annotations

import uuid

from .conftest import GetServer
from .policies import (
    BOARD_PASSWORD,
    BOARD_ROOM,
    DEFAULT_PASSWORD,
    FOCUS,
    PUBLIC_ROOM,
    WRONG_PASSWORD,
)
from .server import Prosody, http_get
from .test_room_policy import CHANGED_PASSWORD, PASSWORD_REFUSED, ROOM_SECRET
from .xmpp import BREAKOUT_DOMAIN, Refusal, Sessions, run, unique

ORPHAN = Refusal("cancel", "not-allowed", "This breakout room belongs to no meeting on this server")
MANAGED = Refusal("cancel", "not-allowed", "The password of this room is managed by the server")


def test_breakout_room_of_a_private_room_needs_its_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-team")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        moderator = await sessions.user()
        assert await moderator.join(room, password=DEFAULT_PASSWORD) is None
        await focus.make_owner(room, moderator.bare_jid)
        breakout = await moderator.create_breakout_room(room)
        assert breakout.endswith(f"@{BREAKOUT_DOMAIN}")
        # Jicofo (focus) enters first, as it does when someone moves to the breakout room.
        assert await focus.join(breakout) is None

        stranger = await sessions.user()
        assert await stranger.join(breakout) == PASSWORD_REFUSED
        assert await stranger.join(breakout, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert "muc_passwordprotected" in await stranger.features(breakout)
        assert await stranger.join(breakout, password=DEFAULT_PASSWORD) is None
        assert await moderator.join(breakout, password=DEFAULT_PASSWORD) is None
        # Its password is the main room's, out of the moderators' hands there too.
        assert await moderator.configure(breakout, {ROOM_SECRET: ""}) == MANAGED

    run(prosody, scenario)


def test_breakout_room_of_a_room_with_its_own_password_needs_that_one(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        assert await focus.join(BOARD_ROOM) is None
        breakout = await focus.create_breakout_room(BOARD_ROOM)
        assert await focus.join(breakout) is None
        user = await sessions.user()
        assert await user.join(breakout, password=DEFAULT_PASSWORD) == PASSWORD_REFUSED
        assert await user.join(breakout, password=BOARD_PASSWORD) is None

    run(prosody, scenario)


def test_breakout_room_of_a_public_room_is_open(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = f"[{unique('t')}]{PUBLIC_ROOM}"
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        breakout = await focus.create_breakout_room(room)
        assert await focus.join(breakout) is None
        user = await sessions.user()
        assert await user.join(breakout) is None
        assert "muc_unsecured" in await user.features(breakout)

    run(prosody, scenario)


def test_breakout_room_of_a_room_its_moderators_locked_needs_their_password(
    prosody: Prosody,
) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("weekly")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.configure(room, {ROOM_SECRET: CHANGED_PASSWORD}) is None
        breakout = await focus.create_breakout_room(room)
        assert await focus.join(breakout) is None
        user = await sessions.user()
        assert await user.join(breakout) == PASSWORD_REFUSED
        assert await user.join(breakout, password=CHANGED_PASSWORD) is None

    run(prosody, scenario)


def test_breakout_room_that_no_main_room_lists_is_refused(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        # A name like Jitsi's, which no main room made: whoever guesses or keeps one gets nothing.
        stray = f"{uuid.uuid4()}@{BREAKOUT_DOMAIN}"
        focus = await sessions.account(*FOCUS)
        assert await focus.join(stray) == ORPHAN
        user = await sessions.user()
        assert await user.join(stray) == ORPHAN
        assert await user.join(stray, password=DEFAULT_PASSWORD) == ORPHAN

    run(prosody, scenario)


def test_health_is_red_when_the_breakout_muc_lacks_the_policy(
    prosody_servers: GetServer, version: str
) -> None:
    server = prosody_servers(version, "breakout-unguarded")
    assert http_get(server, "/room-policy-health") == (
        503,
        "broken: the MUC component breakout.meet.jitsi does not load room_policy\n",
    )


def test_health_is_ok_without_a_breakout_muc(prosody_servers: GetServer, version: str) -> None:
    server = prosody_servers(version, "no-breakout-muc")
    assert http_get(server, "/room-policy-health") == (200, "ok\n")
