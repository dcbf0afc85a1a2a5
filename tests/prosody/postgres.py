"""A throw-away PostgreSQL cluster of this machine's Debian packages, for Prosody's SQL storage.

It listens on the Docker bridge's address, so a Prosody container reaches it as the stack's
Prosody reaches its PostgreSQL container: over TCP, with a password (scram-sha-256). The
superuser speaks over the cluster's own socket folder only.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from jitsi_deploy.model.services import SqlDatabase
from jitsi_deploy.render.templating import render_template
from tests.ports import free_port

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Database:
    """A database with a login role of the same name, on a running cluster."""

    host: str
    port: int
    name: str
    password: str
    socket_dir: Path
    bin_dir: Path

    def query(self, sql: str) -> str:
        """``sql``'s rows, unaligned, as the superuser over the socket (SQL from stdin)."""
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin_dir / "psql"), "-h",
             str(self.socket_dir), "-p", str(self.port), "-d", self.name, "-XAtq",
             "-v", "ON_ERROR_STOP=1"],
            input=sql, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    @property
    def sql(self) -> SqlDatabase:
        """Where Prosody's SQL storage logs in, as the deployment describes its database."""
        return SqlDatabase(self.host, self.port, self.name, self.name)

    def storage_settings(self) -> str:
        """The deployment's conf.d file for Prosody's SQL storage, pointing here."""
        return render_template("prosody/storage-sql.cfg.lua.j2", sql=self.sql)


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps one folder per major release)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_major)
    if not found:
        raise RuntimeError("no PostgreSQL server here: tests/rig/setup-machine.sh installs it")
    return found[-1].parent


def _major(program: Path) -> int:
    return int(program.parent.parent.name)


class Cluster:
    """initdb in a temporary folder, then postgres in the foreground of a child process."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = free_port(host)
        self.bin_dir = bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="jitsi-deploy-pg-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-U", "postgres")  # fmt: skip
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        self._run()

    def restart(self) -> None:
        """Stopped (a fast shutdown: every session ends) and started on the same data."""
        self._end()
        self._run()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self) -> None:
        with (self.folder / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["runuser", "-u", "postgres", "--", str(self.bin_dir / "postgres"), "-D",
                 str(self.data), "-p", str(self.port), "-c", f"listen_addresses={self.host}",
                 "-c", f"unix_socket_directories={self.folder}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_until_ready()

    def database(self, name: str) -> Database:
        """A new database owned by a new login role of the same name, with a fresh password."""
        password = secrets.token_hex(16)
        admin = Database(self.host, self.port, "postgres", "", self.folder, self.bin_dir)
        admin.query(f"CREATE ROLE {name} LOGIN PASSWORD '{password}';")
        admin.query(f"CREATE DATABASE {name} OWNER {name};")
        return Database(self.host, self.port, name, password, self.folder, self.bin_dir)

    def stop(self) -> None:
        self._end()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _end(self) -> None:
        """A fast shutdown, as `docker stop` asks of the postgres image (SIGINT): sessions
        end at once, where the default would wait for Prosody to hang up."""
        if self.process is not None:
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "stop")
            self.process.wait(timeout=30)

    def _as_postgres(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin_dir / program), *args]
        subprocess.run(command, check=True, capture_output=True)

    def _wait_until_ready(self) -> None:
        ready = [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.folder),
                 "-p", str(self.port)]  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while subprocess.run(ready, check=False).returncode != 0:
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "postgres.log").read_text(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start:\n{log[-3000:]}")
            time.sleep(0.1)
