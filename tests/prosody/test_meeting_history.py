"""The meeting history end to end with real servers: scripted XMPP clients open and leave
rooms on Prosody 13 with the events module; the collector keeps what it hears in Redis and
PostgreSQL (meetings.py says how each part runs). The live state and the history must say
exactly what happened, also across a restart of the collector or of Redis.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from . import xmpp
from .meetings import History, docker, start, stop, wait_for, wait_healthy
from .policies import FOCUS
from .postgres import Cluster, Database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    gateway = docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")
    cluster = Cluster(gateway)
    cluster.start()
    try:
        yield cluster.database("meetings")
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, database: Database) -> Iterator[History]:
    running = start(tmp_path_factory.mktemp("history"), database)
    try:
        yield running
    finally:
        stop(running)


def live_of(history: History, room: str) -> dict[str, str] | None:
    return next((m for m in history.live() if m["room"] == room), None)


def rows_of(history: History, room: str) -> list[tuple[str, int, float]]:
    return [row for row in history.meetings() if row[0] == room]


async def await_live(history: History, room: str, participants: int, peak: int) -> None:
    """Waits, off the event loop the clients need, for Redis to show the meeting so."""
    wanted = {"participants": str(participants), "peak": str(peak)}

    def shows(found: dict[str, str] | None) -> bool:
        return found is not None and {k: found[k] for k in wanted} == wanted

    probe = lambda: live_of(history, room)  # noqa: E731
    await asyncio.to_thread(wait_for, f"live {room}", probe, shows, history.story)


async def open_meeting(sessions: xmpp.Sessions, room: str, people: int) -> list[xmpp.Client]:
    """Focus opens ``room`` (only it may create rooms, as in Jitsi), then people join."""
    focus = await sessions.account(*FOCUS)
    assert await focus.join(room) is None
    users = [await sessions.user() for _ in range(people)]
    for user in users:
        assert await user.join(room) is None
    return users


def finished(history: History, room: str) -> list[tuple[str, int, float]]:
    return wait_for(f"history of {room}", lambda: rows_of(history, room), bool, history.story)


def test_live_state_and_history_follow_a_meeting(history: History) -> None:
    room = xmpp.unique("standup")
    began = time.monotonic()

    async def scenario(sessions: xmpp.Sessions) -> None:
        users = await open_meeting(sessions, room, 3)
        await await_live(history, room, participants=3, peak=3)
        await users[0].stop()
        await await_live(history, room, participants=2, peak=3)

    xmpp.run(history.prosody, scenario)
    elapsed = time.monotonic() - began

    [(name, peak, duration)] = finished(history, room)
    assert (name, peak) == (room, 3)
    assert 0 < duration <= elapsed
    assert live_of(history, room) is None, "a finished meeting stays live"


def test_focus_and_health_check_rooms_are_not_counted(history: History) -> None:
    room = xmpp.unique("empty")
    health = xmpp.unique("__jicofo-health-check-")

    async def scenario(sessions: xmpp.Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        assert await focus.join(health) is None
        await open_meeting(sessions, room, 0)
        await await_live(history, room, participants=0, peak=0)

    xmpp.run(history.prosody, scenario)
    assert finished(history, room) == [(room, 0, pytest.approx(0, abs=30))]
    assert not rows_of(history, health) and live_of(history, health) is None


def test_a_meeting_that_ends_while_the_collector_is_down_is_recorded(history: History) -> None:
    room = xmpp.unique("outage")
    docker("stop", "-t", "1", history.collector)

    async def scenario(sessions: xmpp.Sessions) -> None:
        await open_meeting(sessions, room, 2)

    try:
        xmpp.run(history.prosody, scenario)
        assert not rows_of(history, room)
    finally:
        history.start_collector()
    assert [(r[0], r[1]) for r in finished(history, room)] == [(room, 2)]


def test_redis_restart_loses_the_live_state_and_the_heartbeat_rebuilds_it(
    history: History,
) -> None:
    room = xmpp.unique("rebuild")

    async def scenario(sessions: xmpp.Sessions) -> None:
        await open_meeting(sessions, room, 2)
        await await_live(history, room, participants=2, peak=2)
        history.redis_cli("set", "marker", "kept?")
        await asyncio.to_thread(_restart_redis, history)
        assert history.redis_cli("exists", "marker") == "0", "Redis kept data across a restart"
        await await_live(history, room, participants=2, peak=2)
        await open_meeting_more(sessions, room)
        await await_live(history, room, participants=3, peak=3)

    xmpp.run(history.prosody, scenario)
    assert [(r[0], r[1]) for r in finished(history, room)] == [(room, 3)]


def _restart_redis(history: History) -> None:
    docker("restart", "-t", "1", history.redis)
    wait_healthy(history.redis)


async def open_meeting_more(sessions: xmpp.Sessions, room: str) -> None:
    user = await sessions.user()
    assert await user.join(room) is None


def test_retention_deletes_meetings_older_than_the_setting(history: History) -> None:
    old, recent = xmpp.unique("old"), xmpp.unique("recent")
    history.database.query(
        "INSERT INTO history.meetings (id, room, started, ended, peak) VALUES "
        f"(gen_random_uuid(), '{old}', now() - interval '400 days', "
        "now() - interval '400 days' + interval '1 hour', 4), "
        f"(gen_random_uuid(), '{recent}', now() - interval '10 days', "
        "now() - interval '10 days' + interval '1 hour', 5);"
    )
    history.start_collector()  # retention runs at its first heartbeat, then hourly
    gone = wait_for(f"retention of {old}", lambda: rows_of(history, old), lambda rows: not rows,
                    history.story)  # fmt: skip
    assert gone == []
    assert [(r[0], r[1]) for r in rows_of(history, recent)] == [(recent, 5)]


def test_report_prints_the_history_and_status_the_live_rooms(history: History) -> None:
    room = xmpp.unique("report")
    history.database.query(
        "INSERT INTO history.meetings (id, room, started, ended, peak) VALUES "
        f"(gen_random_uuid(), '{room}', '2026-03-01 10:00Z', '2026-03-01 10:30Z', 4), "
        f"(gen_random_uuid(), '{room}', '2026-03-02 09:00Z', '2026-03-02 10:15:30Z', 7);"
    )
    csv = history.collector_cli("report", "--room", room, "--csv")
    assert csv.splitlines() == [
        "room,started,ended,duration_seconds,peak_participants",
        f"{room},2026-03-01T10:00:00Z,2026-03-01T10:30:00Z,1800,4",
        f"{room},2026-03-02T09:00:00Z,2026-03-02T10:15:30Z,4530,7",
    ]
    text = history.collector_cli("report", "--room", room, "--since", "2026-03-02")
    assert "2026-03-02  1         1:15:30  1:15:30  1:15:30  7" in text
    assert "2026-03-01" not in text

    async def scenario(sessions: xmpp.Sessions) -> None:
        await open_meeting(sessions, room, 2)
        await await_live(history, room, participants=2, peak=2)
        live = await asyncio.to_thread(history.collector_cli, "live")
        assert any(line.split()[:3] == [room, "2", "2"] for line in live.splitlines()), live

    xmpp.run(history.prosody, scenario)


def test_report_refuses_a_date_it_cannot_read(history: History) -> None:
    refused = subprocess.run(
        ["docker", "exec", history.collector, "python3", "-m", "collector", "report", "--since",
         "yesterday"], capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2 and "invalid fromisoformat value: 'yesterday'" in refused.stderr


def test_the_collector_takes_events_only_with_the_modules_token(history: History) -> None:
    room = xmpp.unique("forged")
    event = {"id": str(uuid.uuid4()), "room": room, "started": time.time() - 60,
             "participants": 0, "peak": 9}  # fmt: skip
    body = json.dumps({"events": [{"type": "ended", "at": time.time(), "meeting": event}]})
    assert history.post(body.encode(), token="guessed") == 401
    assert history.post(body.encode(), token="") == 401
    assert not rows_of(history, room)
    assert history.post(b'{"events": [{"type": "ended"}]}') == 400
    assert history.post(body.encode()) == 204
    assert [(r[0], r[1]) for r in rows_of(history, room)] == [(room, 9)]
