"""The SSH connection to one host: the only module that speaks to Fabric and paramiko.

Every remote action is a shell script fed on stdin to ``sh -s`` (through ``sudo -n`` for users
other than root), so nothing it carries, secrets included, shows on a command line, and the
number of round trips is counted in one place for the benchmark.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut

from .errors import DeployError
from .inventory import Host

CONNECT_TIMEOUT = 15
# paramiko logs connection failures with tracebacks; ConnectError says the same in one line.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
COMMAND_TIMEOUT = 1800


class ConnectError(DeployError):
    """The host could not be reached or refused us; the message says which and what to do."""


@dataclass(frozen=True)
class Output:
    exit_code: int
    stdout: str
    stderr: str


class _RecordNewHostKey(paramiko.MissingHostKeyPolicy):
    """Trust on first use, on request only: accept an unknown key and append it to the file."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a") as handle:
            handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class Remote:
    """One host over SSH. Opens lazily; ``round_trips`` counts the requests sent."""

    def __init__(
        self,
        host: Host,
        known_hosts: Path,
        trust_new_host_keys: bool = False,
        command_timeout: int = COMMAND_TIMEOUT,
    ) -> None:
        self.host = host
        self.command_timeout = command_timeout
        self.round_trips = 0
        connect_kwargs = {"key_filename": [str(host.key)]} if host.key else {}
        self.connection = Connection(
            host.address,
            user=host.user,
            port=host.port,
            connect_timeout=CONNECT_TIMEOUT,
            connect_kwargs=connect_kwargs,
            config=Config(overrides={"run": {"hide": True, "warn": True}}),
        )
        client = self.connection.client
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        policy = _RecordNewHostKey(known_hosts) if trust_new_host_keys else paramiko.RejectPolicy()
        client.set_missing_host_key_policy(policy)

    def run_script(self, script: str, timeout: int | None = None) -> Output:
        """Run ``script`` as root with ``sh -s``; the script travels on stdin."""
        self._open()
        self.round_trips += 1
        sudo = "" if self.host.user == "root" else "sudo -n "
        try:
            result = self.connection.run(
                f"{sudo}sh -s",
                in_stream=io.StringIO(script),
                timeout=timeout or self.command_timeout,
            )
        except CommandTimedOut as error:
            raise DeployError(f"{self.host.name}: a command ran past {error.timeout}s") from None
        return Output(result.exited, result.stdout, result.stderr)

    def upload(self, local: Path, remote: str) -> None:
        """Copy a (large) local file to ``remote``, a path the SSH user may write."""
        self._open()
        self.round_trips += 1
        self.connection.put(str(local), remote)

    def close(self) -> None:
        self.connection.close()

    def _open(self) -> None:
        if self.connection.is_connected:
            return
        self.round_trips += 1
        try:
            self.connection.open()
        except paramiko.BadHostKeyException as error:
            raise ConnectError(
                f"{self.host.name}: the host key CHANGED ({error.key.get_name()}). If the server "
                "was reinstalled, remove its old line from known_hosts; otherwise stop: someone "
                "may be in the middle."
            ) from None
        except paramiko.SSHException as error:
            if "not found in known_hosts" in str(error):
                raise ConnectError(
                    f"{self.host.name}: unknown host key. Check the server's fingerprint, then "
                    "add it to known_hosts, or deploy once with --trust-new-host-keys."
                ) from None
            raise ConnectError(f"{self.host.name}: SSH failed: {error}") from None
        except OSError as error:
            raise ConnectError(
                f"{self.host.name}: cannot connect to {self.host.address}:{self.host.port} "
                f"({error.strerror or error}). Is the host up and the port right?"
            ) from None
