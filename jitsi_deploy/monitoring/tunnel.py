"""An SSH local port forward to a port on a host's loopback, over an open Fabric connection.

Uptime Kuma publishes its port on the host's 127.0.0.1 only (until its admin exists, whoever
reaches it could claim it), so the deploy reaches it through the SSH connection it already has:
a listener on this machine's loopback whose every connection becomes a ``direct-tcpip``
channel of that connection's transport. Nothing is opened on the host's firewall, and no second
SSH login is made.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import paramiko
from fabric import Connection

log = logging.getLogger(__name__)

KUMA_PORT = 3001
CHANNEL_TIMEOUT = 15.0
POLL = 0.2  # how often idle loops look at the stop flag
BUFFER = 65536


@contextmanager
def kuma_tunnel(
    connection: Connection, remote_port: int = KUMA_PORT, remote_host: str = "127.0.0.1"
) -> Iterator[str]:
    """Forward a free port of this machine's 127.0.0.1 to ``remote_host:remote_port`` as the
    SSH server sees it; yields the local base URL, e.g. ``http://127.0.0.1:41234``.

    ``connection`` is opened if it is not yet; it stays open afterwards (it is the caller's).
    The forward ends with the block: the listener closes and open channels are torn down.
    """
    connection.open()
    listener = socket.create_server(("127.0.0.1", 0))
    forward = _Forward(listener, connection.transport, (remote_host, remote_port))
    forward.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        forward.stop()


class _Forward:
    """Accepts local connections and pumps each through its own SSH channel, in threads."""

    def __init__(
        self, listener: socket.socket, transport: paramiko.Transport, target: tuple[str, int]
    ) -> None:
        self.listener = listener
        self.transport = transport
        self.target = target
        self.stopping = threading.Event()
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.pumps: list[threading.Thread] = []  # only the acceptor adds to it

    def start(self) -> None:
        self.acceptor.start()

    def stop(self) -> None:
        self.stopping.set()
        self.acceptor.join()
        for pump in self.pumps:
            pump.join()
        self.listener.close()

    def _accept_loop(self) -> None:
        self.listener.settimeout(POLL)
        while not self.stopping.is_set():
            try:
                client, peer = self.listener.accept()
            except TimeoutError:
                continue
            try:
                channel = self.transport.open_channel(
                    "direct-tcpip", self.target, peer, timeout=CHANNEL_TIMEOUT
                )
            except (paramiko.SSHException, OSError) as error:
                # e.g. nothing listens there: the local client sees its connection closed.
                log.debug("tunnel to %s:%s refused: %s", *self.target, error)
                client.close()
                continue
            pump = threading.Thread(target=self._pump, args=(client, channel), daemon=True)
            self.pumps = [p for p in self.pumps if p.is_alive()] + [pump]
            pump.start()

    def _pump(self, client: socket.socket, channel: paramiko.Channel) -> None:
        """Copy bytes both ways until either side closes or the forward stops."""
        with client, channel:
            try:
                while not self.stopping.is_set():
                    readable, _, _ = select.select([client, channel], [], [], POLL)
                    if client in readable and not _copy(client.recv, channel.sendall):
                        return
                    if channel in readable and not _copy(channel.recv, client.sendall):
                        return
            except OSError as error:  # a reset by either side ends this connection only
                log.debug("tunnel connection closed: %s", error)


def _copy(receive: Callable[[int], bytes], send: Callable[[bytes], object]) -> bool:
    """Move one chunk; False once the sending side has closed."""
    data = receive(BUFFER)
    if not data:
        return False
    send(data)
    return True
