"""The meeting-events collector: a service of the stack that Prosody's events module
(templates/prosody/mod_meeting_events.lua) posts to.

It keeps the meetings in progress in Redis (live.py: one key per meeting that expires unless a
heartbeat renews it, so a crash leaves no ghosts) and each finished meeting in PostgreSQL
(history.py: schema migrations, retention), and prints both for `fab status` and `fab report`
(__main__.py). It runs in the deploy's own image (Dockerfile: Debian's python3 with its psycopg
and redis packages) from these files, mounted read-only; the deploy tool itself never imports
the modules that need those packages.
"""

from pathlib import Path

COLLECTOR_DIR = Path(__file__).resolve().parent
