"""The room policies and accounts the Prosody tests run with.

The passwords are distinctive strings so that the log check can look for them.
"""

from __future__ import annotations

from jitsi_deploy.settings.rooms import RoomPolicy

from .server import Setup

DEFAULT_PASSWORD = "Default-Secret-6d1f0b"
# Longer than a settings line may be: the settings file must still pass luacheck.
BOARD_PASSWORD = "Board-Secret-93ac7e-" + "correct-horse-battery-staple-" * 4
WRONG_PASSWORD = "Wrong-Guess-5e2b44"
FOCUS = ("focus@auth.meet.jitsi", "Focus-Login-0a8c1d")
RECORDER = ("recorder@hidden.meet.jitsi", "Recorder-Login-77f3e9")
# Logs in fine but is on no whitelist.
OUTSIDER = ("outsider@hidden.meet.jitsi", "Outsider-Login-c41d20")
ACCOUNTS = dict((FOCUS, RECORDER, OUTSIDER))

PUBLIC_ROOM = "daily-standup"
# Enough public rooms that the settings file writes them one per line.
LAST_PUBLIC_ROOM = "design-critique"
PUBLIC_ROOMS = (
    PUBLIC_ROOM,
    *(f"team-{n}-weekly-sync" for n in range(7)),
    LAST_PUBLIC_ROOM,
)
BOARD_ROOM = "private-board"

MAIN = RoomPolicy(
    public_rooms=PUBLIC_ROOMS,
    default_password=DEFAULT_PASSWORD,
    room_passwords={BOARD_ROOM: BOARD_PASSWORD},
    service_accounts=(FOCUS[0], RECORDER[0]),
)

# Settings the module must refuse, and the reason it gives. Two of them are settings jitsi-deploy
# never writes (rooms.py refuses the look-alike prefix; the wrong type needs a hand edit), which
# is why the module checks them itself.
BROKEN = {
    "no-password": (
        RoomPolicy(public_rooms=(PUBLIC_ROOM,)),
        "private rooms ('private-*') need a password: set room_policy_default_password "
        "(or an empty room_policy_private_prefix)",
    ),
    "look-alike-prefix": (
        RoomPolicy(private_prefix="priv\u0430te-", default_password=DEFAULT_PASSWORD),
        "room_policy_private_prefix 'priv\u0430te-' may only hold ASCII letters, digits, "
        "'-', '_', '.'",
    ),
    "wrong-type": (
        f'room_policy_public_rooms = {{ "{PUBLIC_ROOM}" }}\n'
        f'room_policy_default_password = "{DEFAULT_PASSWORD}"\n'
        f'room_policy_room_passwords = "{BOARD_ROOM}={BOARD_PASSWORD}"\n',
        "room_policy_room_passwords must be a table of passwords by room name",
    ),
}

# Short enough for a test to wait it out; the module's default is 60 seconds.
PASSWORD_WAIT = 3

SETUPS = {
    "allow": Setup(MAIN),
    "throttle": Setup(MAIN, global_options={"room_policy_password_wait": PASSWORD_WAIT}),
    # The breakout rooms' MUC without the policy, as with XMPP_MUC_MODULES alone.
    "breakout-unguarded": Setup(MAIN, breakout_modules=()),
    # ENABLE_BREAKOUT_ROOMS=0: no breakout rooms' MUC at all.
    "no-breakout-muc": Setup(MAIN, breakout_modules=None),
    "deny": Setup(
        RoomPolicy(
            public_rooms=(PUBLIC_ROOM,), default_password=DEFAULT_PASSWORD, other_rooms="deny"
        )
    ),
    "password": Setup(
        RoomPolicy(
            public_rooms=(PUBLIC_ROOM,), default_password=DEFAULT_PASSWORD, other_rooms="password"
        )
    ),
    # A server that makes every new room members-only, as a lobby module enabled by default would.
    "members-only-default": Setup(MAIN, {"muc_room_default_members_only": True}),
    **{name: Setup(settings) for name, (settings, _reason) in BROKEN.items()},
}
