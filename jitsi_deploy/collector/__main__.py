"""python3 -m collector serve | live [--json] | report [--since DATE] [--room NAME] [--csv]

Settings come from the environment the compose file gives the container: POSTGRES_PASSWORD,
REDIS_PASSWORD and COLLECTOR_TOKEN (from the 0600 env file), and the non-secret ones below
with their defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, date, datetime

import redis

from . import history, report, server
from .live import Live


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _database() -> history.Database:
    return history.Database(
        host=_env("POSTGRES_HOST", "postgres"),
        port=_env("POSTGRES_PORT", "5432"),
        dbname=_env("POSTGRES_DB", "prosody"),
        user=_env("POSTGRES_USER", "prosody"),
        password=_env("POSTGRES_PASSWORD"),
    )


def _live() -> Live:
    client = redis.Redis(
        host=_env("REDIS_HOST", "redis"),
        port=int(_env("REDIS_PORT", "6379")),
        password=_env("REDIS_PASSWORD") or None,
        socket_timeout=5,
    )
    return Live(client, int(_env("LIVE_TTL", "90")))


def serve(_args: argparse.Namespace) -> None:
    database = _database()
    applied = history.migrate(database.connection())
    logging.info("schema migrations applied now: %s", ", ".join(applied) or "none")
    token = _env("COLLECTOR_TOKEN")
    if not token:
        raise SystemExit("COLLECTOR_TOKEN is not set: no event could be told from a forged one")
    store = server.Store(_live(), database, int(_env("MEETING_HISTORY_DAYS", "365")), token)
    server.serve(store, int(_env("PORT", "8000")))


def live(args: argparse.Namespace) -> None:
    meetings = _live().meetings()
    if args.json:
        print(report.live_json(meetings))
        return
    print(report.live_text(meetings, datetime.now(UTC)), end="")


def history_report(args: argparse.Namespace) -> None:
    rows = history.meetings(_database().connection(), args.since, args.room)
    if args.csv:
        print(report.history_csv(rows), end="")
        return
    since = f"since {args.since}" if args.since else "all"
    room = f"room {args.room}" if args.room else "all rooms"
    print(report.history_text(rows, f"Finished meetings, {since}, {room} (times UTC)"), end="")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="collector")
    commands = parser.add_subparsers(required=True)
    commands.add_parser("serve", help="receive Prosody's events").set_defaults(run=serve)
    in_progress = commands.add_parser("live", help="the meetings in progress")
    in_progress.add_argument("--json", action="store_true")
    in_progress.set_defaults(run=live)
    reporting = commands.add_parser("report", help="the finished meetings")
    reporting.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD, UTC")
    reporting.add_argument("--room")
    reporting.add_argument("--csv", action="store_true")
    reporting.set_defaults(run=history_report)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
