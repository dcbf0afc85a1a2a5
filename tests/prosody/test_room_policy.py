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

import random
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from jitsi_deploy.render.templating import render_template

from .conftest import GetServer
from .policies import (
    BOARD_PASSWORD,
    BOARD_ROOM,
    DEFAULT_PASSWORD,
    FOCUS,
    LAST_PUBLIC_ROOM,
    MAIN,
    OUTSIDER,
    PUBLIC_ROOM,
    RECORDER,
    WRONG_PASSWORD,
)
from .server import Prosody
from .xmpp import Refusal, Sessions, run, unique

REPO = Path(__file__).resolve().parents[2]
PASSWORD_REFUSED = Refusal("auth", "not-authorized")
BAD_NAME = Refusal(
    "cancel", "not-allowed", "Room names may only use the letters a-z, digits, '-', '_' and '.'"
)
DENIED = Refusal("cancel", "not-allowed", "This room does not exist on this server")
RESERVED = Refusal("cancel", "not-allowed", "This room is reserved for the server's services")
MEMBERS_ONLY = "muc#roomconfig_membersonly"
ROOM_SECRET = "muc#roomconfig_roomsecret"
CHANGED_PASSWORD = "Changed-Secret-2f9d61"


def test_policy_is_read_from_the_global_conf_d_file(prosody: Prosody) -> None:
    assert "room policy: 9 public rooms, private prefix 'private-', other rooms: allow" in (
        prosody.log_text()
    )


def test_settings_file_passes_luacheck_with_many_rooms_and_long_passwords(
    tmp_path: Path,
) -> None:
    # The check invoke render runs on every rendered *.cfg.lua (validate.py).
    settings = render_template("prosody/room-policy.cfg.lua.j2", site=SimpleNamespace(rooms=MAIN))
    assert f'    "{LAST_PUBLIC_ROOM}";\n' in settings
    assert len(max(settings.splitlines(), key=len)) > 120
    path = tmp_path / "room-policy.cfg.lua"
    path.write_text(settings)
    luacheck = ["luacheck", "--no-color", "--config", str(REPO / ".luacheckrc"), "--no-global"]
    result = subprocess.run([*luacheck, str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_public_room_needs_no_password(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        user = await sessions.user()
        for room in (PUBLIC_ROOM, LAST_PUBLIC_ROOM):
            assert await focus.join(room) is None
            assert await user.join(room) is None
            assert "muc_unsecured" in await user.features(room)

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
        assert await focus.join(unique("weekly")) == DENIED
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
        assert "muc_unsecured" in await user.features(public_room)
        # The tenant's own name does not matter, its case neither.
        shouting = f"[ACME-2]{unique('PRIVATE-Y')}"
        assert await focus.join(shouting) is None
        assert await user.join(shouting) == PASSWORD_REFUSED
        assert await user.join(shouting, password=DEFAULT_PASSWORD) is None

    run(prosody, scenario)


# Names that would open without a password under OTHER_ROOMS=allow if the module compared them
# as they come: none of them is recognised as private, so every one is refused outright.
LOOK_ALIKE_NAMES = {
    "cyrillic-a": "priv\u0430te-",
    "unicode-hyphen": "private\u2010",
    "nested-tenants": "[a][b]private-",
    "percent-encoded": "private%2d",
    "xep-0106-escape": "private\\20",
    "look-alike-tenant": "[\u0430cme]private-",
    "empty-tenant": "[]private-",
    "unclosed-tenant": "[acme-private-",
}


@pytest.mark.parametrize("name", LOOK_ALIKE_NAMES.values(), ids=LOOK_ALIKE_NAMES.keys())
def test_non_canonical_room_names_are_refused(prosody: Prosody, name: str) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique(name)
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) == BAD_NAME
        user = await sessions.user()
        assert await user.join(room) == BAD_NAME
        assert await user.join(room, password=DEFAULT_PASSWORD) == BAD_NAME

    run(prosody, scenario)
    assert "refused: " in prosody.log_text()


# Prosody's nodeprep lowercases, applies NFKC and drops zero-width characters before the module
# sees a name: these arrive as the canonical private name and get its rule.
FOLDED_NAMES = {
    "upper-case": "PRIVATE-",
    "fullwidth": "\uff50\uff52\uff49\uff56\uff41\uff54\uff45\uff0d",
    "zero-width-space": "private\u200b-",
}


@pytest.mark.parametrize("name", FOLDED_NAMES.values(), ids=FOLDED_NAMES.keys())
def test_names_prosody_folds_get_the_rule_of_the_canonical_name(
    prosody: Prosody, name: str
) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique(name)
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        user = await sessions.user()
        assert await user.join(room) == PASSWORD_REFUSED
        assert await user.join(room, password=DEFAULT_PASSWORD) is None

    run(prosody, scenario)


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_jicofo_health_check_rooms_are_for_service_accounts(
    prosody_servers: GetServer, version: str, policy: str
) -> None:
    async def scenario(sessions: Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        user = await sessions.user()
        # Jicofo names them "__jicofo-health-check-" and a random (possibly negative) number.
        for number in (random.randrange(10**18), -random.randrange(10**18)):
            room = f"__jicofo-health-check-{number}"
            assert await focus.join(room) is None
            assert await user.join(room) == RESERVED
        # With a tenant it is an ordinary room.
        tenant_room = f"[acme]__jicofo-health-check-{unique('')}"
        if policy == "allow":
            assert await focus.join(tenant_room) is None
            assert await user.join(tenant_room) is None
        else:
            assert await focus.join(tenant_room) == DENIED

    run(prosody_servers(version, policy), scenario)


def test_public_room_cannot_be_made_members_only(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = f"[{unique('t')}]{PUBLIC_ROOM}"
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        moderator = await sessions.user()
        assert await moderator.join(room) is None
        await focus.make_owner(room, moderator.bare_jid)
        # What the web client's lobby switch sends; "true" is the other spelling of a boolean.
        for value in ("1", "true"):
            refusal = await moderator.configure(room, {MEMBERS_ONLY: value})
            assert refusal == Refusal(
                "cancel", "not-allowed", "This room is public and cannot be made members-only"
            )
        assert await moderator.configure(room, {MEMBERS_ONLY: "0"}) is None
        late = await sessions.user()
        assert await late.join(room) is None
        assert "muc_membersonly" not in await late.features(room)

    run(prosody, scenario)


def test_private_rooms_keep_the_lobby(prosody: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-lobby")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        moderator = await sessions.user()
        assert await moderator.join(room, password=DEFAULT_PASSWORD) is None
        await focus.make_owner(room, moderator.bare_jid)
        assert await moderator.configure(room, {MEMBERS_ONLY: "1"}) is None
        late = await sessions.user()
        refusal = await late.join(room, password=DEFAULT_PASSWORD)
        assert refusal == Refusal("auth", "registration-required")

    run(prosody, scenario)


def test_public_room_made_members_only_by_the_server_is_opened(
    prosody_servers: GetServer, version: str
) -> None:
    server = prosody_servers(version, "members-only-default")

    async def scenario(sessions: Sessions) -> None:
        room = f"[{unique('t')}]{PUBLIC_ROOM}"
        other = unique("weekly")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.join(other) is None
        user = await sessions.user()
        # The server default is in force: other rooms are members-only ...
        assert await user.join(other) == Refusal("auth", "registration-required")
        # ... public rooms are not.
        assert await user.join(room) is None
        assert "muc_membersonly" not in await user.features(room)

    run(server, scenario)
    assert "is public: members-only switched off" in server.log_text()


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
    assert "room policy: wrong password: " in log
    assert "refused: configuration of " in log
    for secret in (DEFAULT_PASSWORD, BOARD_PASSWORD, WRONG_PASSWORD, CHANGED_PASSWORD):
        assert secret not in log
