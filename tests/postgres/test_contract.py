"""The official postgres:17 image's contract as tests/postgres/docker-entrypoint.sh enforces it:
each refusal broken once and seen to stop the container with upstream's message, and the happy
path a compose file relies on (readiness, passwords over TCP, the data folder's owner and mode,
the first cluster kept across a restart, init scripts once, options passed to postgres).

Secrets reach the containers as `-e NAME`, their values in the docker client's environment,
never in its argv. The read-only tests share one server and one client container.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres.image import ensure_image
from tests.rig.containers import docker, logs, pass_env, running, unique_name
from tests.rig.containers import started as started_container

pytestmark = pytest.mark.slow

PGDATA = "/var/lib/postgresql/data"
INITDB_D = "/docker-entrypoint-initdb.d"
USER = "prosody"
DB = "prosody_store"
PASSWORD = "first-secret"
READY_TIMEOUT = 60.0
# A refusal comes before initdb, in well under a second; a broken rule means a running server.
REFUSAL_TIMEOUT = 20.0
NO_PASSWORD = "Error: Database is uninitialized and superuser password is not specified."
ROW = "INSERT INTO init_runs VALUES ('{}')"
PSQL = 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
INIT_SCRIPTS = {
    "10-table.sql": (0o644, f"CREATE TABLE init_runs (source text);\n{ROW.format('sql')};\n"),
    # Sourced (not executable): it calls the entry point's own function, as upstream allows.
    "20-sourced.sh": (0o644, f'docker_process_sql <<<"{ROW.format("sourced")}"\n'),
    "30-executed.sh": (0o755, f'#!/bin/bash\nexec {PSQL} -c "{ROW.format("executed")}"\n'),
}


@dataclass(frozen=True)
class Server:
    name: str
    data: Path


started = functools.partial(started_container, prefix="postgres")


def run_to_exit(image: str, env: dict[str, str]) -> tuple[int, str]:
    """Exit code and output of a container expected to stop on its own."""
    name = unique_name("postgres")
    argv = ["run", "--name", name, *pass_env(env), image]
    try:
        done = docker(*argv, env=env, check=False, timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still runs after {REFUSAL_TIMEOUT} s:\n{logs(name)}")
    finally:
        docker("rm", "--force", "--volumes", name, check=False)
    return done.returncode, done.stdout + done.stderr


def wait_ready(name: str, user: str = USER, db: str = DB) -> None:
    """pg_isready over TCP: the set-up server listens on the socket only, so TCP means the real
    server is up."""
    probe = ["exec", name, "pg_isready", "--host", "127.0.0.1", "--username", user, "--dbname", db]
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not running(name):
            raise AssertionError(f"{name} stopped before it was ready:\n{logs(name)}")
        if docker(*probe, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} not ready within {READY_TIMEOUT} s:\n{logs(name)}")


def local_sql(name: str, sql: str, user: str = USER, db: str = DB) -> str:
    """A query over the server's own socket, as `docker exec` runs it (trusted, no password)."""
    return docker("exec", name, "psql", "-U", user, "-d", db, "-tAc", sql).stdout.strip()


def tcp_sql(client: str, server: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    """A query from the client container to the server's address, as another service sends it."""
    host = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", server).stdout.strip()
    argv = ["psql", "-w", "-h", host, "-U", USER, "-d", DB, "-tAc", sql]
    return docker(
        "exec", "-e", "PGPASSWORD", client, *argv, env={"PGPASSWORD": password}, check=False
    )


def write_init_scripts(folder: Path) -> Path:
    folder.mkdir(mode=0o755)
    for name, (mode, text) in INIT_SCRIPTS.items():
        (folder / name).write_text(text)
        (folder / name).chmod(mode)
    return folder


@pytest.fixture(scope="module")
def image() -> str:
    """postgres:17; the first build on a machine takes a minute, later ones a second."""
    done = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the PostgreSQL tests need a running Docker engine: {done.stderr}")
    return ensure_image()


@pytest.fixture(scope="module")
def server(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the read-only tests, its data in a fresh root-owned 0755 host folder (a bind
    mount as a deploy makes it), started with options for postgres as its command."""
    data = tmp_path_factory.mktemp("pgdata")
    data.chmod(0o755)
    env = {"POSTGRES_PASSWORD": PASSWORD, "POSTGRES_USER": USER, "POSTGRES_DB": DB}
    volume = ["--volume", f"{data}:{PGDATA}"]
    with started(image, "-c", "shared_buffers=64MB", env=env, options=volume) as name:
        wait_ready(name)
        yield Server(name, data)


@pytest.fixture(scope="module")
def client(image: str) -> Iterator[str]:
    """A container of the same image with `sleep` as its command: the entry point runs any
    command but postgres as given."""
    with started(image, "sleep", "infinity") as name:
        yield name


def test_the_image_is_configured_as_the_official_one(image: str) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert f"PGDATA={PGDATA}" in config["Env"]
    path = next(var for var in config["Env"] if var.startswith("PATH="))
    assert "/usr/lib/postgresql/17/bin" in path.split(":")
    assert list(config["Volumes"]) == [PGDATA]
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["Cmd"] == ["postgres"]
    assert config["StopSignal"] == "SIGINT"
    assert list(config["ExposedPorts"]) == ["5432/tcp"]


@pytest.mark.parametrize("env", [{}, {"POSTGRES_HOST_AUTH_METHOD": "scram-sha-256"}])
def test_a_new_cluster_without_a_password_is_refused(image: str, env: dict[str, str]) -> None:
    code, output = run_to_exit(image, env)
    assert code == 1
    assert NO_PASSWORD in output


@pytest.mark.parametrize(
    "var", ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"]
)
def test_a_variable_and_its_file_together_are_refused(image: str, var: str) -> None:
    env = {"POSTGRES_PASSWORD": PASSWORD, var: "set-twice", f"{var}_FILE": "/etc/hostname"}
    code, output = run_to_exit(image, env)
    assert code == 1
    assert f"error: both {var} and {var}_FILE are set (but are exclusive)" in output


def test_a_setting_the_image_does_not_implement_is_refused(image: str) -> None:
    env = {"POSTGRES_PASSWORD": PASSWORD, "POSTGRES_INITDB_WALDIR": "/var/lib/postgresql/wal"}
    code, output = run_to_exit(image, env)
    assert code == 1
    assert "does not implement POSTGRES_INITDB_WALDIR" in output


def test_the_server_runs_as_postgres_uid_999(server: Server) -> None:
    ids = docker("exec", server.name, "id", "postgres").stdout
    assert ids.startswith("uid=999(postgres) gid=999(postgres)")
    # PID 1 is postgres itself, after the entry point dropped root.
    assert docker("exec", server.name, "cat", "/proc/1/comm").stdout.strip() == "postgres"
    assert docker("exec", server.name, "stat", "-c", "%u", "/proc/1").stdout.strip() == "999"


def test_a_root_owned_data_folder_is_handed_to_postgres_with_mode_0700(server: Server) -> None:
    folder = server.data.stat()
    assert folder.st_uid == 999
    assert stat.S_IMODE(folder.st_mode) == 0o700
    assert (server.data / "PG_VERSION").read_text().strip() == "17"


def test_a_client_over_tcp_gets_in_only_with_the_right_password(
    server: Server, client: str
) -> None:
    allowed = tcp_sql(client, server.name, PASSWORD, "SELECT current_user")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, USER)
    refused = tcp_sql(client, server.name, "wrong-secret", "SELECT 1")
    assert refused.returncode != 0
    assert f'password authentication failed for user "{USER}"' in refused.stderr
    method = "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = 'all'"
    assert local_sql(server.name, method) == "scram-sha-256"


def test_the_client_tools_are_on_path(server: Server) -> None:
    for tool in ("pg_isready", "pg_dump", "pg_restore", "psql"):
        assert "(PostgreSQL) 17." in docker("exec", server.name, tool, "--version").stdout
    # The socket trusts local users, so a backup needs no password inside the container.
    dump = docker("exec", server.name, "pg_dump", "-U", USER, DB).stdout
    assert "PostgreSQL database dump complete" in dump


def test_options_after_the_image_name_reach_postgres(server: Server) -> None:
    assert local_sql(server.name, "SHOW shared_buffers") == "64MB"


def test_the_cluster_is_utf8(server: Server) -> None:
    assert local_sql(server.name, "SHOW server_encoding") == "UTF8"
    collation = "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    assert local_sql(server.name, collation) == "en_US.utf8"


def test_a_restart_keeps_the_first_cluster_and_its_password(
    image: str, client: str, tmp_path: Path
) -> None:
    """First start: password from POSTGRES_PASSWORD_FILE, init scripts run. docker stop is a
    fast shutdown (SIGINT). Second start on the same data with another password: no init, no
    scripts, the first password still the only one."""
    data = tmp_path / "data"
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)  # read by the entry point as root, before it drops to postgres
    scripts = write_init_scripts(tmp_path / "initdb.d")
    mounts = ["--volume", f"{data}:{PGDATA}", "--volume", f"{scripts}:{INITDB_D}:ro"]
    names = {"POSTGRES_USER": USER, "POSTGRES_DB": DB}
    first_env = {**names, "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres-password"}
    secret_mount = ["--volume", f"{secret}:/run/secrets/postgres-password:ro"]
    runs = "SELECT string_agg(source, ',' ORDER BY source) FROM init_runs"
    with started(image, env=first_env, options=[*mounts, *secret_mount]) as first:
        wait_ready(first)
        assert local_sql(first, runs) == "executed,sourced,sql"
        assert tcp_sql(client, first, PASSWORD, "SELECT 1").returncode == 0
        docker("stop", first)
        assert docker("inspect", "--format", "{{.State.ExitCode}}", first).stdout.strip() == "0"
        assert "received fast shutdown request" in logs(first)
    second_env = {**names, "POSTGRES_PASSWORD": "second-secret"}
    with started(image, env=second_env, options=mounts) as second:
        wait_ready(second)
        assert "Skipping initialization" in logs(second)
        assert local_sql(second, runs) == "executed,sourced,sql"
        assert tcp_sql(client, second, PASSWORD, "SELECT 1").returncode == 0
        assert tcp_sql(client, second, "second-secret", "SELECT 1").returncode != 0


def test_a_non_root_user_runs_the_server_as_itself(image: str, tmp_path: Path) -> None:
    """`user: 1000:1000` with a data folder of that owner: no chown, no gosu, initdb under a
    passwd entry nss_wrapper lends (uid 1000 is not in the image), defaults for user and db."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 1000, 1000)
    options = ["--user", "1000:1000", "--volume", f"{data}:{PGDATA}"]
    with started(image, env={"POSTGRES_PASSWORD": PASSWORD}, options=options) as name:
        wait_ready(name, user="postgres", db="postgres")
        assert docker("exec", name, "stat", "-c", "%u", "/proc/1").stdout.strip() == "1000"
        assert (data / "PG_VERSION").stat().st_uid == 1000
        assert local_sql(name, "SELECT current_user", user="postgres", db="postgres") == "postgres"


def test_trust_for_every_host_is_the_one_start_without_a_password(image: str, client: str) -> None:
    """The refusal's one exception: POSTGRES_HOST_AUTH_METHOD=trust starts with a warning, and
    then any password gets in."""
    env = {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_USER": USER, "POSTGRES_DB": DB}
    with started(image, env=env) as name:
        wait_ready(name)
        assert 'POSTGRES_HOST_AUTH_METHOD has been set to "trust"' in logs(name)
        assert tcp_sql(client, name, "any-password", "SELECT 1").returncode == 0


def test_the_set_up_server_answers_pg_isready_on_the_socket_only(
    image: str, tmp_path: Path
) -> None:
    """While the init scripts run, a socket-only server is up: `pg_isready` without a host says
    ready, over TCP it does not. A health check must ask over TCP, or the services that wait for
    it connect before the real server listens."""
    gate = tmp_path / "gate"
    gate.mkdir(mode=0o755)
    scripts = tmp_path / "initdb.d"
    scripts.mkdir(mode=0o755)
    # Holds the set-up server up until the test opens the gate.
    hold = "for _ in $(seq 600); do [ -e /gate/open ] && exit 0; sleep 0.1; done; exit 1\n"
    (scripts / "10-hold.sh").write_text(f"#!/bin/sh\n{hold}")
    (scripts / "10-hold.sh").chmod(0o755)
    options = ["--volume", f"{gate}:/gate:ro", "--volume", f"{scripts}:{INITDB_D}:ro"]
    with started(image, env={"POSTGRES_PASSWORD": PASSWORD}, options=options) as name:
        socket_probe = ["exec", name, "pg_isready", "-q"]
        deadline = time.monotonic() + READY_TIMEOUT
        while docker(*socket_probe, check=False).returncode != 0:
            assert time.monotonic() < deadline and running(name), logs(name)
            time.sleep(0.2)
        tcp_probe = ["exec", name, "pg_isready", "-q", "--host", "127.0.0.1"]
        assert docker(*tcp_probe, check=False).returncode != 0
        assert "init process complete" not in logs(name)
        (gate / "open").touch()
        wait_ready(name, user="postgres", db="postgres")
