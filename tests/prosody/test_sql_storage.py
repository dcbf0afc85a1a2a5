"""Prosody 13 keeps its accounts in PostgreSQL: the deployment's derived image (the pinned
prosody image plus the Lua PostgreSQL driver, templates/prosody/postgresql.Dockerfile, built
here on the Jitsi prosody stand-in) with the deployment's storage settings
(templates/prosody/storage-sql.cfg.lua.j2), against a real PostgreSQL of this machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jitsi_deploy.model.paths import CONTAINER_UID
from jitsi_deploy.render.templating import TEMPLATES_DIR
from jitsi_deploy.steps import storage
from tests.standin.build import image_names

from . import server, xmpp
from .policies import SETUPS
from .postgres import Cluster, Database

pytestmark = pytest.mark.slow

DERIVED_REPO = "jitsi-deploy-test/prosody-postgresql"
ACCOUNT = ("alice", "auth.meet.jitsi")


def _base_image() -> str:
    return image_names()["prosody"]


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def derived_image() -> str:
    """The derived image, built as the deploy builds it, tagged by its base's id."""
    base = _base_image()
    tag = f"{DERIVED_REPO}:{_docker('image', 'inspect', '-f', '{{.Id}}', base)[7:19]}"
    recipe = TEMPLATES_DIR / "prosody" / "postgresql.Dockerfile"
    _docker("build", "-q", "--build-arg", f"BASE={base}", "-t", tag, "-f", str(recipe),
            str(recipe.parent))  # fmt: skip
    return tag


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    gateway = _docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")
    running = Cluster(gateway.strip())
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def database(cluster: Cluster) -> Database:
    return cluster.database("prosody")


def _start(directory: Path, image: str, database: Database) -> server.Prosody:
    (directory / "conf.d").mkdir(parents=True)
    (directory / "conf.d" / "storage-sql.cfg.lua").write_text(database.storage_settings())
    os.environ["POSTGRES_PASSWORD"] = database.password
    given = server.Image(image, environment=("POSTGRES_PASSWORD",))
    return server.start_container(directory, SETUPS["allow"], {}, given)


def _register(prosody: server.Prosody, password: str) -> None:
    # A test password as an argument: the deployment's accounts use stdin (operations/accounts.py).
    assert prosody.container
    config = str(prosody.directory / "prosody.cfg.lua")
    _docker("exec", prosody.container, "prosodyctl", "--config", config, "register", *ACCOUNT,
            password)  # fmt: skip


def _logs_in(prosody: server.Prosody, password: str, user: str = ACCOUNT[0]) -> None:
    async def scenario(sessions: xmpp.Sessions) -> None:
        await sessions.account(f"{user}@{ACCOUNT[1]}", password)

    xmpp.run(prosody, scenario)


def test_accounts_live_in_postgresql_and_survive_a_restart(
    tmp_path: Path, derived_image: str, database: Database
) -> None:
    prosody = _start(tmp_path, derived_image, database)
    try:
        _register(prosody, "Alice-Login-3f9a21")

        rows = database.query(
            "SELECT count(*) FROM prosody WHERE host = 'auth.meet.jitsi' AND \"user\" = 'alice' "
            "AND store = 'accounts';"
        )
        assert int(rows) > 0
        assert not list((tmp_path / "data").rglob("alice.dat")), "the account went to files"
        _logs_in(prosody, "Alice-Login-3f9a21")

        _docker("restart", "-t", "5", prosody.container or "")
        _logs_in(server.wait_for_container(prosody), "Alice-Login-3f9a21")
        with pytest.raises(RuntimeError, match="login failed"):
            _logs_in(prosody, "Wrong-Guess-5e2b44")
    finally:
        server.stop(prosody)


def test_prosody_logs_people_in_again_after_the_database_restarted(
    tmp_path: Path, derived_image: str, cluster: Cluster, database: Database
) -> None:
    """As when the health check restarts PostgreSQL: Prosody's connection ends, and it opens
    a new one for the next login, with no restart of its own."""
    prosody = _start(tmp_path, derived_image, database)
    try:
        _register(prosody, "Alice-Login-3f9a21")
        _logs_in(prosody, "Alice-Login-3f9a21")
        cluster.restart()
        _logs_in(prosody, "Alice-Login-3f9a21")
    finally:
        server.stop(prosody)


def test_accounts_kept_in_files_are_moved_into_the_database_by_prosodys_migrator(
    tmp_path: Path, derived_image: str, database: Database
) -> None:
    """The move a deployment makes when ENABLE_POSTGRES comes on (steps/storage.py): the
    store list its fact reads, the migrator config it writes, the migrator of the image."""
    files = tmp_path / "files"
    server.prepare(files, SETUPS["allow"], {"bob@auth.meet.jitsi": "Bob-Login-8e1c55"},
                   (5222, 5280), "*")  # fmt: skip
    listed = subprocess.run(
        ["sh", "-c", storage.LIST_STORES, "stores", str(tmp_path / "no-mark"), str(files / "data")],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    stores = storage.parse_stores(listed)
    assert stores.hosts == {"auth.meet.jitsi": ["accounts"]}, listed
    config = tmp_path / "migrator.cfg.lua"
    config.write_bytes(storage.migrator_config(stores.hosts, database.password, database.sql))
    # As on a host: the files are the image's user's, the config readable by it alone.
    config.chmod(0o600)
    for path in (config, *(files / "data").rglob("*"), files / "data"):
        os.chown(path, CONTAINER_UID, CONTAINER_UID)

    _docker("run", "--rm", "-v", f"{files / 'data'}:{storage.CONTAINER_DATA}",
            "-v", f"{config}:{storage.MIGRATOR_CONFIG}:ro", "--entrypoint", "prosody-migrator",
            derived_image, f"--config={storage.MIGRATOR_CONFIG}", "files", "database")  # fmt: skip

    prosody = _start(tmp_path / "sql", derived_image, database)
    try:
        assert not (tmp_path / "sql" / "data" / "auth%2emeet%2ejitsi").exists()
        _logs_in(prosody, "Bob-Login-8e1c55", "bob")
    finally:
        server.stop(prosody)


def test_the_pinned_image_alone_has_no_postgresql_driver() -> None:
    """Why the deploy derives an image: the stand-in, as the release's prosody image (its
    prosody/Dockerfile at stable-11146-2 installs lua5.4 and Lua modules, no lua-dbi-*), has
    no LuaDBI."""
    base = _base_image()
    probe = ("lua5.4", "-e", 'require "DBI"')
    lacking = subprocess.run(["docker", "run", "--rm", "--entrypoint", probe[0], base,
                              *probe[1:]], capture_output=True, text=True)  # fmt: skip
    assert lacking.returncode != 0 and "module 'DBI' not found" in lacking.stderr
