"""The room policies and accounts the Prosody tests run with.

The passwords are distinctive strings so that the log check can look for them.
"""

from __future__ import annotations

from jitsi_deploy.settings.rooms import RoomPolicy

DEFAULT_PASSWORD = "Default-Secret-6d1f0b"
BOARD_PASSWORD = "Board-Secret-93ac7e"
WRONG_PASSWORD = "Wrong-Guess-5e2b44"
FOCUS = ("focus@auth.meet.jitsi", "Focus-Login-0a8c1d")
RECORDER = ("recorder@hidden.meet.jitsi", "Recorder-Login-77f3e9")
# Logs in fine but is on no whitelist.
OUTSIDER = ("outsider@hidden.meet.jitsi", "Outsider-Login-c41d20")
ACCOUNTS = dict((FOCUS, RECORDER, OUTSIDER))

PUBLIC_ROOM = "daily-standup"
BOARD_ROOM = "private-board"

MAIN = RoomPolicy(
    public_rooms=(PUBLIC_ROOM,),
    default_password=DEFAULT_PASSWORD,
    room_passwords={BOARD_ROOM: BOARD_PASSWORD},
    service_accounts=(FOCUS[0], RECORDER[0]),
)
POLICIES = {
    "allow": MAIN,
    "deny": RoomPolicy(
        public_rooms=(PUBLIC_ROOM,), default_password=DEFAULT_PASSWORD, other_rooms="deny"
    ),
    "password": RoomPolicy(
        public_rooms=(PUBLIC_ROOM,), default_password=DEFAULT_PASSWORD, other_rooms="password"
    ),
    "no-password": RoomPolicy(public_rooms=(PUBLIC_ROOM,)),
}
