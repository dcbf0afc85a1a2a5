"""Benchmark of the meeting history, with the real parts of tests/prosody/meetings.py:

- events per second the collector stores (Redis and PostgreSQL), posted over HTTP as the
  events module posts them: in batches of 500 (a busy site's queue) and one by one (a quiet
  site's), each a meeting's life of joins, leaves and its end;
- what the module adds to a room join: the median and 95th percentile of a join (presence out,
  the room's answer in) on Prosody 13 with and without it, the same rooms and clients.

    python -m tests.bench.meetings [--events N] [--joins N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from tests.bench import ledger
from tests.prosody import server, xmpp
from tests.prosody.meetings import History, docker, start, stop
from tests.prosody.policies import ACCOUNTS, FOCUS, SETUPS
from tests.prosody.postgres import Cluster

PEOPLE = 10  # per meeting: each joins and leaves, then the meeting ends


def synthetic_events(count: int) -> list[dict]:
    """Meetings of PEOPLE joins and leaves, then an "ended": what the module sends."""
    events: list[dict] = []
    while len(events) < count:
        began = time.time()
        meeting = {"id": str(uuid.uuid4()), "room": f"bench-{len(events)}", "started": began,
                   "participants": 0, "peak": 0}  # fmt: skip
        events.append({"type": "started", "at": began, "meeting": dict(meeting)})
        for kind, counts in (("joined", range(1, PEOPLE + 1)), ("left", range(PEOPLE - 1, -1, -1))):
            for n in counts:
                meeting |= {"participants": n, "peak": max(meeting["peak"], n)}
                events.append({"type": kind, "at": time.time(), "meeting": dict(meeting)})
        events.append({"type": "ended", "at": time.time(), "meeting": dict(meeting)})
    return events[:count]


def events_per_second(history: History, count: int, batch: int) -> float:
    events = synthetic_events(count)
    url = history.events_url()
    began = time.perf_counter()
    for first in range(0, count, batch):
        body = json.dumps({"events": events[first : first + batch]}).encode()
        assert (status := history.post(body, url=url)) == 204, status
    return count / (time.perf_counter() - began)


def join_times(prosody: server.Prosody, joins: int) -> list[float]:
    """Seconds per join of a new user into an open room, ten users per room."""
    times: list[float] = []

    async def scenario(sessions: xmpp.Sessions) -> None:
        focus = await sessions.account(*FOCUS)
        users = [await sessions.user() for _ in range(10)]
        for n in range(joins // len(users)):
            room = f"join-bench-{n}-{uuid.uuid4().hex[:6]}"
            assert await focus.join(room) is None
            for user in users:
                began = time.perf_counter()
                assert await user.join(room) is None
                times.append(time.perf_counter() - began)

    xmpp.run(prosody, scenario)
    return times


def milliseconds(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95)] * 1000


def bench(events: int, joins: int, folder: Path) -> dict[str, float]:
    gateway = docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")
    cluster = Cluster(gateway)
    cluster.start()
    history: History | None = None
    plain: server.Prosody | None = None
    try:
        history = start(folder / "history", cluster.database("bench"))
        plain_setup = replace(SETUPS["allow"], main_modules=("room_policy",))
        plain = server.start_container(folder / "plain", plain_setup, ACCOUNTS,
                                       server.Image(server.PROSODY13_IMAGE))  # fmt: skip
        figures = {
            "collector, batches of 500 (events/s)": events_per_second(history, events, 500),
            "collector, one event per request (events/s)": events_per_second(
                history, events // 10, 1
            ),
        }
        without = milliseconds(join_times(plain, joins))
        with_module = milliseconds(join_times(history.prosody, joins))
        figures |= {
            "room join without the module, median (ms)": without[0],
            "room join with the module, median (ms)": with_module[0],
            "room join without the module, p95 (ms)": without[1],
            "room join with the module, p95 (ms)": with_module[1],
        }
        return figures
    finally:
        if plain:
            server.stop(plain)
        if history:
            stop(history)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--joins", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jitsi-deploy-bench-") as folder:
        ledger.show("meeting history", bench(args.events, args.joins, Path(folder)))


if __name__ == "__main__":
    main()
