"""The SSH connection to one host: the only module that speaks to Fabric and paramiko.

Every remote action is a shell script fed on stdin to ``sh -s`` (through ``sudo -n`` for users
other than root), so nothing it carries, secrets included, shows on a command line, and the
number of round trips is counted in one place for the benchmark.
"""

from __future__ import annotations

import logging
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Config, Connection

from ..errors import DeployError
from ..settings.inventory import Host

SshConfig = Config  # what `fab` parsed: -i keys, ~/.ssh/config, timeouts, the sudo password
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


class Stream:
    """A running command's stdout to read and stdin to write, as byte streams."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.stdout = channel.makefile("rb")

    def write(self, data: bytes) -> int:
        self.channel.sendall(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here (the file-like interface gzip and tarfile expect)."""

    def finish(self) -> Output:
        """Close stdin, read what is left, and wait for the exit code."""
        self.channel.shutdown_write()
        stdout = self.stdout.read().decode(errors="replace")
        stderr = self.channel.makefile_stderr("rb").read().decode(errors="replace")
        return Output(self.channel.recv_exit_status(), stdout, stderr)


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
        config: Config | None = None,
    ) -> None:
        """``config`` carries what `fab` was told: -i keys, ~/.ssh/config, the sudo password."""
        self.host = host
        self.round_trips = 0
        self._sudo: str | None = None
        config = config.clone() if config else Config()
        self.sudo_password = config.sudo.password
        self.connection = Connection(
            host.address,
            user=host.user,
            port=host.port,
            connect_timeout=config.timeouts.connect or CONNECT_TIMEOUT,
            connect_kwargs={"key_filename": [str(host.key)]} if host.key else {},
            config=config,
        )
        client = self.connection.client
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
        policy = _RecordNewHostKey(known_hosts) if trust_new_host_keys else paramiko.RejectPolicy()
        client.set_missing_host_key_policy(policy)

    def run_script(
        self,
        script: str,
        timeout: int = COMMAND_TIMEOUT,
        on_line: Callable[[str], None] | None = None,
    ) -> Output:
        """Run ``script`` as root with ``sh -s``; the script travels on stdin. With ``on_line``,
        its stderr joins its stdout and each line is handed over as it arrives."""
        sudo = self._sudo_prefix()
        if sudo.startswith("sudo -S"):
            script = f"{self.sudo_password}\n{script}"  # sudo reads the first line, sh the rest
        return self._run(f"{sudo}sh -s", script, timeout, on_line)

    @contextmanager
    def stream(self, script: str, timeout: int = COMMAND_TIMEOUT) -> Iterator[Stream]:
        """Run ``script`` as root with ``sh -c``, its stdin and stdout left to the caller as byte
        streams (archives too large to hold in memory). The script travels on the command
        line, so it must carry no secret; data goes through the stream."""
        sudo = self._sudo_prefix()
        self._open()
        self.round_trips += 1
        channel = self.connection.client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
        try:
            channel.settimeout(timeout)
            channel.exec_command(f"{sudo}sh -c {shlex.quote(script)}")
            if sudo.startswith("sudo -S"):
                channel.sendall(f"{self.sudo_password}\n".encode())
            yield Stream(channel)
        except TimeoutError:
            raise DeployError(f"{self.host.name}: {_stalled('a transfer', timeout)}") from None
        except paramiko.SSHException as error:
            raise DeployError(
                f"{self.host.name}: the transfer broke off ({error}). Is the host still up? "
                "Run the command again once it answers."
            ) from None
        finally:
            channel.close()

    def _run(
        self,
        command: str,
        stdin: str,
        timeout: int,
        on_line: Callable[[str], None] | None = None,
    ) -> Output:
        """One exec request; stdin is sent whole, then closed, so the script can run to its end.

        (Invoke's runner feeds stdin a byte at a time, which costs minutes for a large script.)
        """
        self._open()
        self.round_trips += 1
        channel = self.connection.client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
        try:
            channel.settimeout(timeout)
            channel.set_combine_stderr(on_line is not None)
            channel.exec_command(command)
            channel.sendall(stdin.encode())
            channel.shutdown_write()
            if on_line:
                stdout = "".join(_lines(channel, on_line))
            else:
                stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            return Output(channel.recv_exit_status(), stdout, stderr)
        except TimeoutError:
            raise DeployError(f"{self.host.name}: {_stalled('a command', timeout)}") from None
        finally:
            channel.close()

    def _sudo_prefix(self) -> str:
        """How to become root: nothing for root, `sudo -n` where no password is asked, else
        `sudo -S` with the password on stdin (-k: sudo always reads it, never a cached login)."""
        if self._sudo is None:
            if self.host.user == "root":
                self._sudo = ""
            elif self._run("sudo -n true", "", 30).exit_code == 0:
                self._sudo = "sudo -n "
            elif self.sudo_password:
                self._sudo = "sudo -S -k -p '' "
            else:
                raise ConnectError(
                    f"{self.host.name}: {self.host.user} cannot sudo without a password. Allow "
                    "it (NOPASSWD) or run fab with --prompt-for-sudo-password."
                )
        return self._sudo

    def upload(self, local: Path, remote: str) -> None:
        """Copy a (large) local file to ``remote``, a path the SSH user may write."""
        self._open()
        self.round_trips += 1
        self.connection.put(str(local), remote)

    def close(self) -> None:
        self.connection.close()

    def _refused(self, error: paramiko.SSHException) -> str:
        """Why SSH would not let us in, and where to look."""
        where = f"{self.host.user}@{self.host.address}:{self.host.port}"
        if "No authentication methods" in str(error):
            return (
                f"{where}: there was no key to offer ({error}). Set this host's key= in the "
                "inventory, or load the key into an SSH agent."
            )
        if isinstance(error, paramiko.AuthenticationException):
            return (
                f"{where} refused the login ({error}). Check this host's user= and key= in "
                "the inventory, and that the key is in that user's ~/.ssh/authorized_keys."
            )
        return f"SSH to {where} failed ({error}). Is it an SSH server, and is it up?"

    def _socket(self) -> socket.socket:
        """A TCP connection that sends each SSH message at once. With Nagle's algorithm on (as
        paramiko leaves it), a small message waits for the host's delayed ACK: about 40 ms on
        each step of the handshake and on each command, twice the work of a no-op deploy."""
        address = (self.connection.host, self.connection.port)
        sock = socket.create_connection(address, timeout=self.connection.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _open(self) -> None:
        if self.connection.is_connected:
            return
        self.round_trips += 1
        try:
            if not self.connection.gateway:
                self.connection.connect_kwargs["sock"] = self._socket()
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
            raise ConnectError(f"{self.host.name}: {self._refused(error)}") from None
        except OSError as error:
            raise ConnectError(
                f"{self.host.name}: cannot connect to {self.host.address}:{self.host.port} "
                f"({error.strerror or error}). Is the host up and the port right?"
            ) from None


def _stalled(what: str, timeout: int) -> str:
    return (
        f"{what} went on for {timeout}s without ending, so it was given up. The host may be "
        "overloaded, out of disk, or waiting on a stuck download; look at it, then run the "
        "command again: a deploy goes on where this one stopped."
    )


def _lines(channel: paramiko.Channel, on_line: Callable[[str], None]) -> Iterator[str]:
    """The channel's output line by line as it comes, each also handed to ``on_line``."""
    for raw in channel.makefile("rb"):
        line = raw.decode(errors="replace")
        on_line(line.rstrip("\n"))
        yield line
