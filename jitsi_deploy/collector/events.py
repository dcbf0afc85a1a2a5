"""The events Prosody's module posts, checked before anything is stored.

A batch is refused whole (400) when one event is malformed: the module then drops it, where a
partly stored batch sent again would store its first part twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

KINDS = ("started", "joined", "left", "ended", "live")
MAX_ROOM = 1023  # Prosody's node limit, in bytes


class BadEvent(ValueError):
    """An event that is not what mod_meeting_events sends."""


@dataclass(frozen=True)
class Meeting:
    id: str
    room: str
    started: datetime
    participants: int
    peak: int


@dataclass(frozen=True)
class Event:
    kind: str
    at: datetime
    meeting: Meeting | None = None  # every kind but "live"
    live: tuple[Meeting, ...] = ()  # "live" only


def parse_batch(body: object) -> list[Event]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise BadEvent('a batch is {"events": [...]}')
    return [parse_event(item) for item in body["events"]]


def parse_event(item: object) -> Event:
    if not isinstance(item, dict) or item.get("type") not in KINDS:
        raise BadEvent(f"an event has a type of {', '.join(KINDS)}: {str(item)[:200]}")
    at = _time(item.get("at"))
    if item["type"] == "live":
        meetings = item.get("meetings")
        if not isinstance(meetings, list):
            raise BadEvent("a live event lists its meetings")
        return Event("live", at, live=tuple(_meeting(m) for m in meetings))
    return Event(item["type"], at, meeting=_meeting(item.get("meeting")))


def _meeting(item: object) -> Meeting:
    if not isinstance(item, dict):
        raise BadEvent("a meeting is an object")
    room = item.get("room")
    if not isinstance(room, str) or not 0 < len(room.encode()) <= MAX_ROOM:
        raise BadEvent("a meeting's room is a name of 1 to 1023 bytes")
    try:
        meeting_id = str(uuid.UUID(str(item.get("id"))))
    except ValueError:
        raise BadEvent("a meeting's id is a UUID") from None
    participants, peak = _count(item.get("participants")), _count(item.get("peak"))
    if participants > peak:
        raise BadEvent("a meeting's peak is at least its participants")
    return Meeting(meeting_id, room, _time(item.get("started")), participants, peak)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadEvent("participant counts are whole numbers from 0")
    return value


def _time(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadEvent("times are unix seconds")
    return datetime.fromtimestamp(value, UTC)
