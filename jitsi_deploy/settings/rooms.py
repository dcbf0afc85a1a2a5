"""The room access policy: which rooms are open, which need a password, what happens to the rest."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError
from .passwords import password_typo, password_weakness
from .reader import Reader
from .secrets import Secret

OtherRooms = Literal["allow", "deny", "password"]
OTHER_ROOM_MODES: tuple[OtherRooms, ...] = ("allow", "deny", "password")
# The private rooms' password when PRIVATE_ROOM_PASSWORD is empty: text a person can type.
ROOM_PASSWORD = Secret("GENERATED_ROOM_PASSWORD", lambda: secrets.token_urlsafe(12))


@dataclass(frozen=True)
class RoomPolicy:
    """What Prosody's room-policy module enforces on the MUC component.

    + public_rooms: fixed rooms anyone with the link joins; nobody can lock them.
    + private_prefix: rooms whose name starts with it need a password.
    + default_password: the password of a private room without a password of its own.
    + room_passwords: per-room passwords, by (lowercase) room name.
    + other_rooms: "allow" (Jitsi's default), "deny" (refuse) or "password" (default password).
    + service_accounts: bare JIDs (or whole domains) that join every room without its password.
      The default is what the Jitsi prosody image whitelists: focus (jicofo), which creates the
      conference rooms. Add ``recorder@hidden.meet.jitsi`` when Jibri recording is enabled and
      ``transcriber@hidden.meet.jitsi`` when Jigasi transcription is.

    Room names are ASCII letters, digits, '-', '_' and '.': Prosody refuses every other room
    name, and matches these against a room's name without its ``[tenant]`` prefix.
    """

    public_rooms: tuple[str, ...] = ()
    private_prefix: str = "private-"
    default_password: str = ""
    room_passwords: dict[str, str] = field(default_factory=dict)
    other_rooms: OtherRooms = "allow"
    service_accounts: tuple[str, ...] = ("focus@auth.meet.jitsi",)


# Room names become the local part of a MUC JID: keep to what every Jitsi client produces.
_ROOM_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def read_room_policy(reader: Reader, generated_password: str) -> RoomPolicy:
    """The room policy from the rooms keys; ``generated_password`` serves when none is set."""
    raw_prefix = reader.text("PRIVATE_ROOM_PREFIX")
    prefix = raw_prefix.lower()
    if not raw_prefix.isascii():
        reader.fail("PRIVATE_ROOM_PREFIX", _not_ascii(raw_prefix))
    elif prefix and not _ROOM_NAME.fullmatch(prefix.rstrip("-_.")):
        reader.fail(
            "PRIVATE_ROOM_PREFIX",
            f"{prefix!r} is not a valid room name prefix: it starts with a letter or digit, "
            "e.g. private-.",
        )
    public = _public_rooms(reader, prefix)
    default_password = _password(reader, "PRIVATE_ROOM_PASSWORD") or generated_password
    return RoomPolicy(
        public_rooms=public,
        private_prefix=prefix,
        default_password=default_password,
        room_passwords=_room_passwords(reader, prefix, public),
        other_rooms=reader.choice("OTHER_ROOMS", OTHER_ROOM_MODES),  # type: ignore[arg-type]
    )


def _not_ascii(raw: str) -> str:
    odd = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in dict.fromkeys(raw) if not ch.isascii())
    return (
        f"{raw!r} has characters outside ASCII: {odd}. Prosody serves only rooms named with "
        "ASCII letters, digits, '-', '_' and '.', so a look-alike letter names a room nobody can "
        "join. Type the name in plain ASCII."
    )


def check_room_name(raw: str, source: str, key: str = "ROOM") -> str:
    """The lowercase room name ``raw`` gives (as the settings' rooms); ConfigError naming
    ``source`` and ``key`` when it is not one."""
    reader = Reader({}, {key: source})
    name = _room_name(reader, key, raw)
    if name is None:
        raise ConfigError(reader.problems)
    return name


def _room_name(reader: Reader, key: str, raw: str) -> str | None:
    """The lowercase room name, or None (with the problem recorded) when it is not one."""
    name = raw.strip().lower()
    if not raw.isascii():
        reader.fail(key, _not_ascii(raw.strip()))
    elif name.startswith("["):
        reader.fail(
            key,
            f"{raw.strip()!r} names a tenant's room. Write the room without '[tenant]': "
            "the policy applies to the room of that name in every tenant.",
        )
    elif not _ROOM_NAME.fullmatch(name):
        reader.fail(
            key,
            f"{raw.strip()!r} is not a room name Jitsi accepts. Use letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit, at most 64 characters.",
        )
    else:
        return name
    return None


def _public_rooms(reader: Reader, prefix: str) -> tuple[str, ...]:
    rooms: list[str] = []
    for raw in reader.listing("PUBLIC_ROOMS"):
        name = _room_name(reader, "PUBLIC_ROOMS", raw)
        if name is None:
            continue
        if prefix and name.startswith(prefix):
            reader.fail(
                "PUBLIC_ROOMS",
                f"{name!r} starts with the private prefix {prefix!r}, so it would need a "
                "password. Rename the room or change PRIVATE_ROOM_PREFIX.",
            )
        if name in rooms:
            reader.fail("PUBLIC_ROOMS", f"{name!r} is listed twice. Remove one.")
        rooms.append(name)
    return tuple(rooms)


def _password(reader: Reader, key: str, value: str | None = None, room: str = "") -> str:
    password = reader.text(key) if value is None else value
    if not password:
        return password
    shown = f"the password of {room!r}" if room else "the password"
    typo = password_typo(password)
    weakness = password_weakness(password, (room, *re.split(r"[-_.]", room)))
    if typo:
        reader.fail(key, f"{shown} {typo}")
    elif weakness:
        reader.fail(
            key,
            f"{shown} {weakness}. Choose a longer one (e.g. four or five unrelated words), or "
            "leave PRIVATE_ROOM_PASSWORD empty to have a strong one generated.",
        )
    return password


def _room_passwords(reader: Reader, prefix: str, public: tuple[str, ...]) -> dict[str, str]:
    key = "PRIVATE_ROOM_PASSWORDS"
    passwords: dict[str, str] = {}
    for pair in reader.listing(key):
        room, sep, password = pair.partition("=")
        if not sep or not password:
            reader.fail(key, f"{room.strip()!r} has no password. Write room=password pairs.")
            continue
        name = _room_name(reader, key, room)
        if name is None:
            continue
        if name in public or not name.startswith(prefix):
            reader.fail(
                key,
                f"{name!r} is not a private room. Only rooms starting with {prefix!r} "
                "take a password.",
            )
        if name in passwords:
            reader.fail(
                key,
                f"{room.strip()!r} is listed twice (room names ignore case). Keep one password "
                "per room.",
            )
        passwords[name] = _password(reader, key, password, name)
    return passwords
