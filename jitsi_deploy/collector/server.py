"""The HTTP side: ``POST /events`` from Prosody's module, one request at a time, applied in
order. 204 once a batch is stored; 401 without the module's token; 400 for a batch the module
must drop (it would be refused again); 503 when Redis or PostgreSQL failed, so the module sends
it again."""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg
import redis

from . import history
from .events import BadEvent, Event, parse_batch
from .live import Live

log = logging.getLogger("collector")
MAX_BODY = 4 * 1024 * 1024
RETENTION_EVERY = 3600.0


@dataclass
class Store:
    live: Live
    database: history.Database
    keep_days: int
    token: str
    expired_at: float = 0.0

    def apply(self, event: Event) -> None:
        if event.kind == "live":
            self.live.replace(event.live)
            self._expire_old()
            return
        assert event.meeting
        if event.kind == "ended":
            # History first: a failure here leaves the meeting live and the batch is sent again.
            history.record(self.database.connection(), event.meeting, event.at)
            self.live.drop(event.meeting.id)
        else:
            self.live.put((event.meeting,))

    def _expire_old(self) -> None:
        if self.expired_at and time.monotonic() - self.expired_at < RETENTION_EVERY:
            return
        deleted = history.expire(self.database.connection(), self.keep_days)
        self.expired_at = time.monotonic()
        if deleted:
            log.info("retention: deleted %d meetings older than %d days", deleted, self.keep_days)


def serve(store: Store, port: int) -> None:
    class Handler(EventsHandler):
        target = store

    server = HTTPServer(("", port), Handler)  # one thread: batches are applied in arrival order
    log.info("collector listening on port %d", port)
    server.serve_forever()


class EventsHandler(BaseHTTPRequestHandler):
    target: Store

    def do_POST(self) -> None:
        if self.path != "/events":
            return self._answer(404, "no such path; events go to /events")
        given = self.headers.get("Authorization") or ""
        if not hmac.compare_digest(given.encode(), f"Bearer {self.target.token}".encode()):
            return self._answer(401, "events come from Prosody's module, with its token")
        length = self.headers.get("Content-Length") or "0"
        if not (length.isdigit() and 0 < int(length) <= MAX_BODY):
            return self._answer(400, "a batch has a body of at most 4 MiB")
        try:
            events = parse_batch(json.loads(self.rfile.read(int(length))))
        except (ValueError, BadEvent) as error:
            return self._answer(400, str(error))
        try:
            for event in events:
                self.target.apply(event)
        except (psycopg.Error, redis.RedisError) as error:
            log.warning("could not store a batch of %d events: %s", len(events), error)
            return self._answer(503, "storage unavailable; send the batch again")
        self._answer(204, "")

    def do_GET(self) -> None:
        """``/health``: both stores answer (the compose healthcheck)."""
        if self.path != "/health":
            return self._answer(404, "")
        try:
            self.target.live.client.ping()
            self.target.database.connection().execute("SELECT 1")
        except (psycopg.Error, redis.RedisError) as error:
            return self._answer(503, f"unhealthy: {error}")
        self._answer(200, "ok")

    def _answer(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged one by one: a busy site posts many."""
