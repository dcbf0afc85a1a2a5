"""ENABLE_POSTGRES=1 on the accounts core, which ran on files until now (conftest.py:
auth_core): the deploy builds Prosody's image with the PostgreSQL driver on the host, starts
PostgreSQL (tests/postgres: Debian's, under the official image's contract), moves the
accounts in with Prosody's migrator, and Prosody serves them from the database: across a
restart, through a second deploy that changes nothing, and through a backup, which holds
the database as a dump, restored onto the same host.

test_tokens.py, next on this core, writes its settings without ENABLE_POSTGRES: its deploy
switches the database off again.
"""

from __future__ import annotations

import tarfile
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
POSTGRES_SETTINGS = {**AUTH_SETTINGS, "ENABLE_FAIL2BAN": "1", "ENABLE_POSTGRES": "1"}


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
