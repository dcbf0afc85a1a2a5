"""The meetings in progress, in Redis: one hash per meeting, ``live:<id>``, that expires
``ttl`` seconds after its last event or heartbeat. A crashed Prosody's meetings vanish by
themselves; a restarted Redis is filled again by the next heartbeat (mod_meeting_events)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import redis

from .events import Meeting

PREFIX = "live:"


class Live:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.client = client
        self.ttl = ttl

    def put(self, meetings: Iterable[Meeting]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for meeting in meetings:
            key = PREFIX + meeting.id
            pipe.hset(key, mapping=_fields(meeting))
            pipe.expire(key, self.ttl)
        pipe.execute()

    def drop(self, meeting_id: str) -> None:
        self.client.delete(PREFIX + meeting_id)

    def replace(self, meetings: tuple[Meeting, ...]) -> None:
        """The heartbeat's list is the whole truth: meetings it leaves out are gone."""
        self.put(meetings)
        current = {PREFIX + meeting.id for meeting in meetings}
        stale = [key for key in self._keys() if key not in current]
        if stale:
            self.client.delete(*stale)

    def meetings(self) -> list[Meeting]:
        pipe = self.client.pipeline(transaction=False)
        for key in self._keys():
            pipe.hgetall(key)
        found = [_meeting(fields) for fields in pipe.execute() if fields]
        return sorted(found, key=lambda meeting: (meeting.room, meeting.started))

    def _keys(self) -> list[str]:
        return [key.decode() for key in self.client.scan_iter(match=PREFIX + "*", count=500)]


def _fields(meeting: Meeting) -> dict[str, str | int | float]:
    return {
        "id": meeting.id,
        "room": meeting.room,
        "started": meeting.started.timestamp(),
        "participants": meeting.participants,
        "peak": meeting.peak,
    }


def _meeting(fields: dict[bytes, bytes]) -> Meeting:
    value = {key.decode(): item.decode() for key, item in fields.items()}
    started = datetime.fromtimestamp(float(value["started"]), UTC)
    return Meeting(
        value["id"], value["room"], started, int(value["participants"]), int(value["peak"])
    )
