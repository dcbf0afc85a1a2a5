"""Finished meetings in PostgreSQL, in a schema of their own (``history``) beside Prosody's
tables: migrations/ makes and changes it, in order, each once; retention deletes old rows."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import psycopg

from .events import Meeting

SCHEMA = "history"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: concurrent collectors (an update's old and new) migrate one after the other.
MIGRATION_LOCK = 7_220_941


class Database:
    """One connection, opened again after PostgreSQL restarted: each statement commits alone
    (autocommit), so none is half done when the connection breaks."""

    def __init__(self, **parameters: str) -> None:
        self.parameters = parameters
        self._connection: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self._connection is None or self._connection.broken or self._connection.closed:
            self._connection = psycopg.connect(
                autocommit=True,
                options=f"-c search_path={SCHEMA} -c timezone=UTC",
                **self.parameters,
            )
        return self._connection


def migrate(connection: psycopg.Connection) -> list[str]:
    """Applies the migrations not applied yet, in order, in one transaction under a lock (a
    failing one leaves the schema as it was); their names."""
    applied_now = []
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in connection.execute("SELECT name FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.name not in done:
                connection.execute(path.read_text())
                connection.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
                applied_now.append(path.name)
    return applied_now


def record(connection: psycopg.Connection, meeting: Meeting, ended: datetime) -> None:
    """Stores a finished meeting; the same meeting sent again changes nothing."""
    connection.execute(
        "INSERT INTO meetings (id, room, started, ended, peak) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (meeting.id, meeting.room, meeting.started, max(ended, meeting.started), meeting.peak),
    )


def expire(connection: psycopg.Connection, days: int) -> int:
    """Deletes meetings that ended more than ``days`` ago (0: none); how many."""
    if days == 0:
        return 0
    deleted = connection.execute(
        "DELETE FROM meetings WHERE ended < now() - make_interval(days => %s)", (days,)
    )
    return deleted.rowcount


def meetings(
    connection: psycopg.Connection, since: date | None, room: str | None
) -> list[tuple[str, datetime, datetime, int]]:
    """Finished meetings that started on ``since`` or later, in ``room``, oldest first."""
    return connection.execute(
        "SELECT room, started, ended, peak FROM meetings"
        " WHERE (%(since)s::date IS NULL OR started >= %(since)s::date)"
        " AND (%(room)s::text IS NULL OR room = %(room)s::text)"
        " ORDER BY started, room",
        {"since": since, "room": room},
    ).fetchall()
