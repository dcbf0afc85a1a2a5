"""ENABLE_POSTGRES=1 on the accounts core, which ran on files until now (conftest.py:
auth_core): the deploy builds Prosody's image with the PostgreSQL driver on the host, starts
PostgreSQL (tests/postgres: Debian's, under the official image's contract), moves the
accounts in with Prosody's migrator, and Prosody serves them from the database: across a
restart, through a second deploy that changes nothing, and through a backup, which holds
the database as a dump, restored onto the same host.

The same deploy switches the meeting history on (ENABLE_MEETING_HISTORY=1): the host builds
the collector's image on debian:trixie-slim, Redis and the collector start beside PostgreSQL,
and Prosody (the stand-in's real Prosody 13) loads the events module; a meeting held on the
core shows in `fab status` while it lasts and in `fab report` after, also after the restore.

test_tokens.py, next on this core, writes its settings without ENABLE_POSTGRES: its deploy
switches the database and the history off again.
"""

from __future__ import annotations

import re
import tarfile
import threading
import time
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.services import PROSODY_WITH_POSTGRES
from tests.e2e.conftest import AUTH_SETTINGS
from tests.e2e.site import Site
from tests.e2e.test_accounts import fab, login
from tests.e2e.test_backup import restore
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

PASSWORD = "kept in files then in sql 58"
POSTGRES_SETTINGS = {
    **AUTH_SETTINGS,
    "ENABLE_FAIL2BAN": "1",
    "ENABLE_POSTGRES": "1",
    "ENABLE_MEETING_HISTORY": "1",
}
MEETING_ROOM = "weekly-review"  # a public room of the example settings
MEETING_END = "/tmp/end-meeting"  # in the prosody container's tmpfs
# Inside the prosody container (its slixmpp): focus opens the room, as jicofo does, with its
# password from the container's environment; carol joins; both stay until the file END exists
# (at most a minute), then leave, and Prosody destroys the empty room.
MEETING = r"""
import asyncio, os, ssl, sys
import slixmpp

ROOM, END = sys.argv[1] + "@muc.meet.jitsi", sys.argv[2]

async def enter(jid, password, nick):
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    loop = asyncio.get_running_loop()
    started, joined = loop.create_future(), loop.create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(1))
    def presence(stanza):
        if str(stanza["from"]) == f"{ROOM}/{nick}" and not joined.done():
            joined.set_result(stanza["type"])
    client.add_event_handler("presence", presence)
    client.connect("127.0.0.1", 5222)
    await asyncio.wait_for(started, 15)
    client.send_raw(f"<presence to='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    assert await asyncio.wait_for(joined, 15) != "error", f"{jid} was refused"
    return client

async def main():
    focus = await enter("focus@auth.meet.jitsi", os.environ["JICOFO_AUTH_PASSWORD"], "focus")
    carol = await enter("carol@meet.jitsi", sys.stdin.readline().strip(), "carol")
    print("in", flush=True)
    for _ in range(600):
        if os.path.exists(END):
            break
        await asyncio.sleep(0.1)
    for client in (carol, focus):
        await client.disconnect()

asyncio.run(main())
"""


def accounts_in_database(core: TestHost, name: str) -> int:
    """How many accounts named ``name`` the database holds (one row per field of each)."""
    query = (
        "select count(distinct \"user\") from prosody where host = 'meet.jitsi' "
        f"and store = 'accounts' and \"user\" = '{name}'"
    )
    done = host_exec(core, "docker", "exec", "jitsi-postgres", "psql", "-U", "prosody",
                     "-d", "prosody", "-Atc", query, check=True)  # fmt: skip
    return int(done.stdout)


def logs_in_once_up(site: Site, name: str, seconds: float = 90) -> str:
    """The login's outcome once Prosody takes logins again (after a restart)."""
    deadline = time.monotonic() + seconds
    while (outcome := login(site, name, PASSWORD)) not in ("logged in", "refused"):
        if time.monotonic() > deadline:
            break
        time.sleep(2)
    return outcome


@pytest.fixture(scope="module")
def on_postgres(auth_core: Site) -> Site:
    """The core with an account made on files, then deployed with ENABLE_POSTGRES=1."""
    added = fab(auth_core, "user-add", "carol", stdin=f"{PASSWORD}\n")
    assert added.returncode == 0, added.stdout + added.stderr
    auth_core.write(POSTGRES_SETTINGS)
    switched = auth_core.fab("deploy")
    auth_core.switch_output = switched.stdout + switched.stderr  # type: ignore[attr-defined]
    assert switched.returncode == 0, auth_core.switch_output  # type: ignore[attr-defined]
    return auth_core


def test_switching_on_moves_the_accounts_into_the_database(on_postgres: Site) -> None:
    core = on_postgres.hosts[0]
    output = on_postgres.switch_output  # type: ignore[attr-defined]
    assert f"build {PROSODY_WITH_POSTGRES}:" in output, output
    assert "move Prosody's accounts and data from files into PostgreSQL" in output, output
    image = host_exec(core, "docker", "inspect", "-f", "{{.Config.Image}}", "jitsi-prosody")
    assert image.stdout.startswith(PROSODY_WITH_POSTGRES), image.stdout
    assert accounts_in_database(core, "carol") == 1
    assert login(on_postgres, "carol", PASSWORD) == "logged in"
    # Only the database's own user reads its files.
    owner = host_exec(core, "stat", "-c", "%u %a", paths.POSTGRES_DATA_DIR, check=True)
    assert owner.stdout.split() == ["999", "700"]


def test_the_accounts_outlive_a_restart_and_a_second_deploy_changes_nothing(
    on_postgres: Site,
) -> None:
    core = on_postgres.hosts[0]
    host_exec(core, "docker", "restart", "-t", "10", "jitsi-prosody", check=True)
    assert logs_in_once_up(on_postgres, "carol") == "logged in"

    again = on_postgres.fab("deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged: nothing to do" in again.stdout, again.stdout


def live_rooms(core: TestHost) -> str:
    done = host_exec(core, "docker", "exec", "jitsi-collector", "python3", "-m", "collector",
                     "live", "--json")  # fmt: skip
    return done.stdout + done.stderr


def test_a_meeting_shows_in_status_while_it_lasts_and_in_the_report_after(
    on_postgres: Site,
) -> None:
    core = on_postgres.hosts[0]
    output = on_postgres.switch_output  # type: ignore[attr-defined]
    assert "build jitsi-deploy/collector:trixie-slim" in output, output
    held: list[str] = []
    meeting = threading.Thread(target=lambda: held.append(hold_meeting(core).stdout))
    began = time.monotonic()
    meeting.start()
    try:
        deadline = time.monotonic() + 30
        while f'"room": "{MEETING_ROOM}"' not in (live := live_rooms(core)):
            assert time.monotonic() < deadline, live
            time.sleep(0.5)
        status = on_postgres.fab("status")
        line = rf"meetings: +1 in progress: {MEETING_ROOM} 1 \(peak 1, 0 min\)"
        assert re.search(line, status.stdout), status.stdout
    finally:
        host_exec(core, "docker", "exec", "jitsi-prosody", "touch", MEETING_END)
        meeting.join()
    lasted = time.monotonic() - began
    assert held == ["in\n"], held
    deadline = time.monotonic() + 30
    while MEETING_ROOM not in (report := on_postgres.fab("report", "--csv")).stdout:
        assert time.monotonic() < deadline, report.stdout + report.stderr
    rows = [line.split(",") for line in report.stdout.splitlines()[1:]]
    assert [(row[0], row[4]) for row in rows] == [(MEETING_ROOM, "1")], report.stdout
    assert 1 <= int(rows[0][3]) <= lasted, (lasted, report.stdout)
    tables = on_postgres.fab("report", "--room", MEETING_ROOM)
    assert re.search(rf"\n{MEETING_ROOM} +1 +0:00:\d\d", tables.stdout), tables.stdout


def hold_meeting(core: TestHost):
    return host_exec(core, "docker", "exec", "-i", "jitsi-prosody", "python3", "-c", MEETING,
                     MEETING_ROOM, MEETING_END, input=f"{PASSWORD}\n")  # fmt: skip


def test_a_backup_holds_the_database_as_a_dump_that_a_restore_loads(
    on_postgres: Site, tmp_path: Path
) -> None:
    core = on_postgres.hosts[0]
    made = on_postgres.fab("-H", f"root@{core.address}", "backup", "--to", str(tmp_path))
    assert made.returncode == 0, made.stdout + made.stderr
    (archive,) = (tmp_path / core.name).glob("*.tar.gz")
    names = archive_names(tmp_path / core.name)
    assert paths.DATABASE_DUMP.lstrip("/") in names
    assert not [n for n in names if n.startswith(paths.POSTGRES_DATA_DIR.lstrip("/"))]
    assert host_exec(core, "test", "-e", paths.DATABASE_DUMP).returncode != 0, "dump left"

    removed = fab(on_postgres, "user-remove", "carol")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert accounts_in_database(core, "carol") == 0

    restored = restore(on_postgres, archive, core)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "load the restored database into PostgreSQL" in restored.stdout, restored.stdout
    assert accounts_in_database(core, "carol") == 1
    assert logs_in_once_up(on_postgres, "carol") == "logged in"
    assert host_exec(core, "test", "-e", paths.RESTORED_DUMP).returncode != 0
    # The meeting history is in the dump too.
    report = on_postgres.fab("report", "--csv")
    assert f"\n{MEETING_ROOM}," in report.stdout, report.stdout + report.stderr


def test_a_stopped_database_is_backed_up_as_its_files(on_postgres: Site, tmp_path: Path) -> None:
    """Stopped, PostgreSQL's files are consistent and nothing could dump them: they go in."""
    core = on_postgres.hosts[0]
    # Disarmed, the health check starts nothing meanwhile (it would start the database).
    host_exec(core, "rm", paths.HEALTH_ARMED, check=True)
    host_exec(core, "docker", "stop", "jitsi-postgres", check=True)
    try:
        made = on_postgres.fab("-H", f"root@{core.address}", "backup", "--to", str(tmp_path))
    finally:
        host_exec(core, "docker", "start", "jitsi-postgres", check=True)
        host_exec(core, "touch", paths.HEALTH_ARMED, check=True)
    assert made.returncode == 0, made.stdout + made.stderr
    names = archive_names(tmp_path / core.name)
    assert f"{paths.POSTGRES_DATA_DIR.lstrip('/')}/PG_VERSION" in names
    assert paths.DATABASE_DUMP.lstrip("/") not in names


def archive_names(folder: Path) -> list[str]:
    (archive,) = folder.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        return tar.getnames()
