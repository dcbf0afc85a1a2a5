"""The room policy (templates/prosody/mod_room_policy.lua) enforced by a real Prosody.

Every test runs against Prosody 0.12.3 (Debian 12's package, on this machine, on a loopback port)
and Prosody 13.0.1 (Debian 13's package, what the Jitsi image runs, in a container made by
``build-prosody13.sh``; the container's address on the test Docker network is used). Both load
the module file as shipped and the settings rendered from ``room-policy.cfg.lua.j2`` into
``conf.d/``, which the config includes last, in the global section, like the Jitsi image does.

The server is shaped like Jitsi's: anonymous users on meet.jitsi, focus@auth.meet.jitsi as an
admin that alone may create rooms (restrict_room_creation), unlocked new rooms
(muc_room_locking = false), and recorder@hidden.meet.jitsi standing in for Jibri. The clients
are real XMPP sessions (slixmpp). Each server is started once per policy and shared, so tests use
fresh room names where a leftover room would matter.
"""

from __future__ import annotations

from .conftest import GetServer
from .policies import (
    BOARD_PASSWORD,
    BOARD_ROOM,
    DEFAULT_PASSWORD,
    FOCUS,
    OUTSIDER,
    PUBLIC_ROOM,
    RECORDER,
    WRONG_PASSWORD,
)
from .server import Prosody
from .xmpp import Refusal, Sessions, run, unique

PASSWORD_REFUSED = Refusal("auth", "not-authorized")
ROOM_SECRET = "muc#roomconfig_roomsecret"
CHANGED_PASSWORD = "Changed-Secret-2f9d61"


def test_policy_is_read_from_the_global_conf_d_file(prosody: Prosody) -> None:
    assert "room policy: 1 public rooms, private prefix 'private-', other rooms: allow" in (
        prosody.log_text()
    )


def test_public_room_needs_no_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        assert await focus.join(PUBLIC_ROOM) is None
        user = await sessions.user()
        assert await user.join(PUBLIC_ROOM) is None

    run(prosody, scenario)


def test_password_sent_to_public_room_does_not_lock_it(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        # A fresh tenant room, so the password arrives in the presence that creates it.
        room = f"[{unique('t')}]{PUBLIC_ROOM}"
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room, password=WRONG_PASSWORD) is None
        first = await sessions.user()
        assert await first.join(room, password=WRONG_PASSWORD) is None
        second = await sessions.user()
        assert await second.join(room) is None
        assert "muc_unsecured" in await second.features(room)

    run(prosody, scenario)


def test_private_room_needs_the_default_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-team")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        user = await sessions.user()
        assert await user.join(room) == PASSWORD_REFUSED
        assert await user.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert await user.join(room, password=DEFAULT_PASSWORD) is None

    run(prosody, scenario)


def test_room_password_replaces_the_default(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        assert await focus.join(BOARD_ROOM) is None
        user = await sessions.user()
        assert await user.join(BOARD_ROOM, password=DEFAULT_PASSWORD) == PASSWORD_REFUSED
        assert await user.join(BOARD_ROOM, password=BOARD_PASSWORD) is None

    run(prosody, scenario)


def test_whitelisted_service_account_needs_no_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-rec")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        recorder = await sessions.account(*RECORDER)
        assert await recorder.join(room) is None
        outsider = await sessions.account(*OUTSIDER)
        assert await outsider.join(room) == PASSWORD_REFUSED

    run(prosody, scenario)


def test_moderator_cannot_remove_or_change_the_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-mod")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        moderator = await sessions.user()
        assert await moderator.join(room, password=DEFAULT_PASSWORD) is None
        await focus.make_owner(room, moderator.bare_jid)

        for secret in ("", CHANGED_PASSWORD):
            refusal = await moderator.configure(room, {ROOM_SECRET: secret})
            assert refusal == Refusal(
                "cancel", "not-allowed", "The password of this room is managed by the server"
            )
        # Owner rights are real: only the password is out of their hands.
        assert await moderator.configure(room, {"muc#roomconfig_roomname": "Team"}) is None

        late = await sessions.user()
        assert await late.join(room) == PASSWORD_REFUSED
        assert await late.join(room, password=CHANGED_PASSWORD) == PASSWORD_REFUSED
        assert await late.join(room, password=DEFAULT_PASSWORD) is None

    run(prosody, scenario)


def test_nobody_can_put_a_password_on_a_public_room(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        assert await focus.join(PUBLIC_ROOM) is None
        refusal = await focus.configure(PUBLIC_ROOM, {ROOM_SECRET: CHANGED_PASSWORD})
        assert refusal == Refusal(
            "cancel", "not-allowed", "This room is public and cannot have a password"
        )
        user = await sessions.user()
        assert await user.join(PUBLIC_ROOM) is None

    run(prosody, scenario)


def test_disco_shows_private_rooms_as_password_protected(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-disco")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.join(PUBLIC_ROOM) is None
        user = await sessions.user()
        private_features = await user.features(room)
        assert "muc_passwordprotected" in private_features
        assert "muc_unsecured" not in private_features
        assert "muc_unsecured" in await user.features(PUBLIC_ROOM)

    run(prosody, scenario)


def test_other_rooms_allow_keeps_jitsi_behaviour(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("weekly")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        moderator = await sessions.user()
        assert await moderator.join(room) is None
        await focus.make_owner(room, moderator.bare_jid)
        # Moderators lock and unlock these rooms themselves.
        assert await moderator.configure(room, {ROOM_SECRET: CHANGED_PASSWORD}) is None
        late = await sessions.user()
        assert await late.join(room) == PASSWORD_REFUSED
        assert await late.join(room, password=CHANGED_PASSWORD) is None

    run(prosody, scenario)


def test_other_rooms_deny(prosody_servers: GetServer, version: str) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        refusal = await focus.join(unique("weekly"))
        assert refusal == Refusal(
            "cancel", "not-allowed", "This room does not exist on this server"
        )
        private_room = unique("private-ok")
        assert await focus.join(PUBLIC_ROOM) is None
        assert await focus.join(private_room) is None
        user = await sessions.user()
        assert await user.join(PUBLIC_ROOM) is None
        assert await user.join(private_room, password=DEFAULT_PASSWORD) is None

    run(prosody_servers(version, "deny"), scenario)


def test_other_rooms_password(prosody_servers: GetServer, version: str) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("weekly")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.join(PUBLIC_ROOM) is None
        user = await sessions.user()
        assert await user.join(room) == PASSWORD_REFUSED
        assert await user.join(room, password=DEFAULT_PASSWORD) is None
        assert "muc_passwordprotected" in await user.features(room)
        assert await user.join(PUBLIC_ROOM) is None

    run(prosody_servers(version, "password"), scenario)


def test_tenant_rooms_follow_the_rule_of_their_room_part(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        private_room = f"[acme]{unique('private-x')}"
        public_room = f"[acme]{PUBLIC_ROOM}"
        focus = await sessions.account(*FOCUS)
        assert await focus.join(private_room) is None
        assert await focus.join(public_room) is None
        user = await sessions.user()
        assert await user.join(private_room) == PASSWORD_REFUSED
        assert await user.join(private_room, password=DEFAULT_PASSWORD) is None
        assert await user.join(public_room) is None

    run(prosody, scenario)


def test_module_refuses_to_load_without_a_password(
    prosody_servers: GetServer, version: str
) -> None:
    server = prosody_servers(version, "no-password")
    log = server.log_text()
    assert (
        "mod_room_policy refuses to load: private rooms ('private-*') need a password: "
        "set room_policy_default_password"
    ) in log
    assert "room policy: " not in log

    async def scenario(sessions: Sessions) -> None:
        # Nothing guards the room: the module is really not loaded.
        room = unique("private-open")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        user = await sessions.user()
        assert await user.join(room) is None

    run(server, scenario)


def test_passwords_never_reach_the_log(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-log")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.join(BOARD_ROOM) is None
        user = await sessions.user()
        assert await user.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert await user.join(room, password=DEFAULT_PASSWORD) is None
        assert await user.join(BOARD_ROOM, password=BOARD_PASSWORD) is None
        await focus.make_owner(room, user.bare_jid)
        assert await user.configure(room, {ROOM_SECRET: CHANGED_PASSWORD}) is not None

    run(prosody, scenario)
    log = prosody.log_text()
    # The log is at debug level and saw the refusals, so the secrets had their chance to leak.
    assert "\tdebug\t" in log
    assert "refused: wrong or missing password" in log
    assert "refused: password change" in log
    for secret in (DEFAULT_PASSWORD, BOARD_PASSWORD, WRONG_PASSWORD, CHANGED_PASSWORD):
        assert secret not in log
