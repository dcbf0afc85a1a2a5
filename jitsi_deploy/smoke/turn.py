"""A minimal TURN client (RFC 5389 STUN, RFC 5766 TURN) for `fab smoke` and the host's health
check (`main`; standard library alone, as the hosts' Python runs it): allocate a UDP relay
with the "TURN REST API" credentials coturn's use-auth-secret accepts and Prosody's
mod_external_services hands out, permit a peer and bounce a datagram off it through the relay.
Over udp, tcp and tls; on a stream the messages follow each other, the header gives the length.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

Attrs = list[tuple[int, bytes]]
TIMEOUT = 5.0
COOKIE_BYTES = struct.pack("!I", 0x2112A442)
PORT_MASK = 0x2112  # XOR addresses mask a port with the cookie's top half (RFC 5389 15.2)
# Message type = method | class: for methods below 0x10, as all of these, the bits don't
# interleave (RFC 5389 section 6). ERROR is also the mask of the two class bits.
ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION = 0x003, 0x004, 0x006, 0x007, 0x008
INDICATION, SUCCESS, ERROR = 0x010, 0x100, 0x110
USERNAME, INTEGRITY, ERROR_CODE, LIFETIME = 0x0006, 0x0008, 0x0009, 0x000D
REALM, NONCE = 0x0014, 0x0015
PEER_ADDRESS, DATA_VALUE, RELAYED_ADDRESS, TRANSPORT = 0x0012, 0x0013, 0x0016, 0x0019
UDP = bytes([17, 0, 0, 0])  # REQUESTED-TRANSPORT: UDP's protocol number, then 3 bytes RFFU
# What an operator can do about the errors a site's coturn gives (RFC 5766 section 15).
HINTS = {
    401: "coturn's static-auth-secret and Prosody's secret differ, or the two clocks do",
    403: "the server's denied-peer-ip forbids relaying to that address",
    486: "the allocation quota of this user is reached (user-quota)",
    508: "the server has no relay port left (min-port, max-port)",
}


class Address(NamedTuple):
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class TurnError(Exception):
    """The server's STUN error answer (code None: what answered does not speak STUN)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code} {reason}" if code else reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Message:
    kind: int  # method | class
    tid: bytes
    attrs: dict[int, bytes]  # the first of each type: RFC 5389 ignores repeated ones

    def answers(self, tid: bytes) -> bool:
        return self.tid == tid and self.kind & ERROR in (SUCCESS, ERROR)

    @property
    def code(self) -> int | None:
        """The error code of an error response."""
        value = self.attrs.get(ERROR_CODE)
        return (value[2] & 7) * 100 + value[3] if value and self.kind & ERROR == ERROR else None

    def checked(self) -> Message:
        if self.code:
            raise TurnError(self.code, self.attrs[ERROR_CODE][4:].decode("utf-8", "replace"))
        return self

    def address(self, attr: int) -> Address:
        value = self.attrs[attr]
        mask = COOKIE_BYTES + self.tid
        ip = bytes(byte ^ mask[i] for i, byte in enumerate(value[4:]))
        port = int.from_bytes(value[2:4], "big") ^ PORT_MASK
        return Address(str(ipaddress.ip_address(ip)), port)


def rest_credentials(
    secret: str, ttl: int, now: float | None = None, name: str = ""
) -> tuple[str, str]:
    """The TURN REST API pair: "expiry[:name]" and base64(HMAC-SHA1(secret, username))."""
    username = str(int(time.time() if now is None else now) + ttl) + (f":{name}" if name else "")
    digest = hmac.digest(secret.encode(), username.encode(), "sha1")
    return username, base64.b64encode(digest).decode()


def encode(kind: int, tid: bytes, attrs: Attrs, key: bytes | None = None) -> bytes:
    body = b"".join(struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4) for t, v in attrs)
    # The HMAC covers a header whose length already counts MESSAGE-INTEGRITY itself.
    head = struct.pack("!HH", kind, len(body) + (24 if key else 0)) + COOKIE_BYTES + tid
    if key is None:
        return head + body
    return head + body + struct.pack("!HH", INTEGRITY, 20) + hmac.digest(key, head + body, "sha1")


def decode(data: bytes) -> Message | None:
    """The message in ``data``, or None for what is not STUN (a stray datagram)."""
    if len(data) < 20 or data[0] & 0xC0 or data[4:8] != COOKIE_BYTES:
        return None
    kind, length = struct.unpack("!HH", data[:4])
    if len(data) != 20 + length:
        return None
    body, attrs = data[20:], {}
    while len(body) >= 4:  # FINGERPRINT and unknown attributes are kept and ignored
        attr, size = struct.unpack("!HH", body[:4])
        attrs.setdefault(attr, body[4 : 4 + size])
        body = body[4 + size + (-size % 4) :]
    return Message(kind, data[8:20], attrs)


def xor_address(address: Address, tid: bytes) -> bytes:
    ip = ipaddress.ip_address(address.ip)
    mask = COOKIE_BYTES + tid  # an IPv4 address uses the cookie alone
    masked = bytes(byte ^ mask[i] for i, byte in enumerate(ip.packed))
    return struct.pack("!BBH", 0, 1 if ip.version == 4 else 2, address.port ^ PORT_MASK) + masked


@dataclass(frozen=True)
class Server:
    """A TURN server: the transport is udp, tcp or tls; for tls, the name to ask for (SNI; the
    host when None), a CA file, or verify=False for a self-signed site the operator accepted."""

    host: str
    port: int
    transport: str = "udp"
    server_name: str | None = None
    cafile: str | None = None
    verify: bool = True
    timeout: float = TIMEOUT

    def __str__(self) -> str:
        return f"the TURN server {self.host}:{self.port} over {self.transport}"


def connect(server: Server) -> socket.socket:
    """A socket to the server; over udp a connected one, so that ICMP errors surface."""
    if server.transport == "udp":
        found = socket.getaddrinfo(server.host, server.port, type=socket.SOCK_DGRAM)
        family, kind, _, _, address = found[0]
        sock = socket.socket(family, kind)
        sock.settimeout(server.timeout)
        sock.connect(address)
        return sock
    if server.transport not in ("tcp", "tls"):
        raise ValueError(f"unknown TURN transport {server.transport!r}: udp, tcp or tls")
    sock = socket.create_connection((server.host, server.port), timeout=server.timeout)
    if server.transport == "tcp":
        return sock
    context = ssl.create_default_context(cafile=server.cafile)
    if not server.verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=server.server_name or server.host)


class TurnClient:
    """A connection to a TURN server, for one allocation."""

    def __init__(self, server: Server) -> None:
        self.sock, self.timeout = connect(server), server.timeout
        # On a stream, a buffered reader gives whole headers and bodies; over udp, datagrams.
        self.stream = self.sock.makefile("rb") if self.sock.type == socket.SOCK_STREAM else None
        self.auth: tuple[Attrs, bytes] | None = None  # USERNAME and REALM, the long-term key
        self.nonce = b""
        self.allocated = False

    def __enter__(self) -> TurnClient:
        return self

    def __exit__(self, *_: object) -> None:
        if self.allocated:
            self.release()
        if self.stream:
            self.stream.close()
        self.sock.close()

    def allocate(self, username: str, password: str) -> Address:
        """The relayed address; TurnError carries the server's code (401: refused credentials)."""
        answer = self._ask(ALLOCATE, [(TRANSPORT, UDP)])  # its 401 names the realm and a nonce
        if answer.code == 401 and REALM in answer.attrs:
            realm, self.nonce = answer.attrs[REALM], answer.attrs.get(NONCE, b"")
            key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
            self.auth = [(USERNAME, username.encode()), (REALM, realm)], key
            answer = self._ask(ALLOCATE, [(TRANSPORT, UDP)])
        relayed = answer.checked().address(RELAYED_ADDRESS)
        self.allocated = True
        return relayed

    def release(self) -> None:
        """Gives the relay port back now (a Refresh to lifetime 0, RFC 5766 section 7). Over udp
        the server would otherwise hold it for the allocation's lifetime, ten minutes: a probe
        each minute would keep ten of the site's relay ports from participants."""
        self.allocated = False
        with contextlib.suppress(OSError, TurnError):  # else it expires by itself
            self._ask(REFRESH, [(LIFETIME, bytes(4))])

    def create_permission(self, peer_ip: str) -> None:
        """Lets ``peer_ip`` send through the relay; TurnError 403 if the server forbids it."""
        peer = xor_address(Address(peer_ip, 0), bytes(12))  # the port is ignored
        self._ask(CREATE_PERMISSION, [(PEER_ADDRESS, peer)]).checked()

    def send(self, peer: Address, data: bytes) -> None:
        tid = secrets.token_bytes(12)  # no answer comes, but an IPv6 XOR-PEER-ADDRESS uses it
        attrs = [(PEER_ADDRESS, xor_address(peer, tid)), (DATA_VALUE, data)]
        self.sock.sendall(encode(SEND | INDICATION, tid, attrs))

    def receive(self) -> tuple[Address, bytes]:
        """The next Data indication: who sent what to the relay."""
        until = time.monotonic() + self.timeout
        if not (message := self._await(lambda m: m.kind == DATA | INDICATION, until)):
            raise TimeoutError(f"nothing came back through the relay within {self.timeout:g} s")
        return message.address(PEER_ADDRESS), message.attrs.get(DATA_VALUE, b"")

    def _ask(self, method: int, attrs: Attrs, stale: bool = False) -> Message:
        """The answer to a request, signed once logged in; a Stale Nonce (438) renews it once."""
        tid, signed, key = secrets.token_bytes(12), attrs, None
        if self.auth:
            signed, key = [*attrs, *self.auth[0], (NONCE, self.nonce)], self.auth[1]
        answer = self._transact(tid, encode(method, tid, signed, key))
        if answer.code == 438 and NONCE in answer.attrs and not stale:
            self.nonce = answer.attrs[NONCE]
            return self._ask(method, attrs, stale=True)
        return answer

    def _transact(self, tid: bytes, request: bytes) -> Message:
        deadline, interval = time.monotonic() + self.timeout, 0.5  # RFC 5389's first UDP RTO
        while time.monotonic() < deadline:
            self.sock.sendall(request)  # again over udp after each silence, which doubles
            until = deadline if self.stream else min(deadline, time.monotonic() + interval)
            interval *= 2
            if answer := self._await(lambda m: m.answers(tid), until):
                return answer
        raise TimeoutError(f"no answer from the TURN server within {self.timeout:g} s")

    def _await(self, wanted: Callable[[Message], bool], until: float) -> Message | None:
        while (left := until - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                message = decode(self._read())
            except (TimeoutError, socket.timeout):  # noqa: UP041 (distinct before Python 3.10)
                return None
            if message and wanted(message):  # else a stray, or data before its time
                return message
        return None

    def _read(self) -> bytes:
        if not self.stream:
            return self.sock.recv(65535)
        header = self.stream.read(20)
        if len(header) == 20 and header[4:8] != COOKIE_BYTES:  # out of step from here on
            raise TurnError(None, "the server does not speak STUN/TURN on this port")
        data = header + self.stream.read(length := int.from_bytes(header[2:4], "big"))
        if len(data) < 20 + length:
            raise ConnectionError("the TURN server closed the connection")
        return data


@dataclass(frozen=True)
class TurnResult:
    """What a probe found, in a sentence for the site's operator."""

    ok: bool
    message: str
    relayed: Address | None = None  # the allocation worked
    echoed: bool = False  # a datagram went to the peer and came back through the relay
    error_code: int | None = None
    reason: str = ""


def probe(server: Server, username: str, password: str, peer: Address | None = None) -> TurnResult:
    """Allocates a relay and, given a UDP echo ``peer``, bounces a datagram off it through it."""
    relayed = None
    try:
        with TurnClient(server) as client:
            relayed = client.allocate(username, password)
            if peer is None:
                return TurnResult(True, f"{server} allocated the relay {relayed}", relayed)
            client.create_permission(peer.ip)
            payload = b"jitsi-deploy smoke " + secrets.token_hex(8).encode()
            client.send(peer, payload)
            source, data = client.receive()
    except TurnError as error:
        step = "allocated a relay but refused the peer" if relayed else "refused the allocation"
        hint = f": {HINTS[error.code]}" if error.code in HINTS else ""
        message = f"{server} {step} ({error}){hint}"
        return TurnResult(False, message, relayed, error_code=error.code, reason=error.reason)
    except (OSError, ValueError) as error:
        return TurnResult(False, f"{server}: {_describe(error)}", relayed, reason=str(error))
    if (source, data) != (peer, payload):
        return TurnResult(False, f"{server} relayed {data!r} from {source}, not the echo", relayed)
    message = f"{server} relayed a datagram to {peer} and back via {relayed}"
    return TurnResult(True, message, relayed, echoed=True)


def _describe(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate is refused ({error.verify_message})"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def main(argv: list[str]) -> int:
    """`python3 -m jitsi_deploy.smoke.turn TRANSPORT HOST PORT NAME`, the host's health check:
    an allocation with fresh credentials, as a participant gets them. The secret comes in the
    environment (TURN_SECRET), never on the command line, which every user can read."""
    transport, host, port, name = argv
    # Whether coturn relays is the question; the certificate is smoke's and status's to judge.
    server = Server(host, int(port), transport, name, verify=False)
    found = probe(server, *rest_credentials(os.environ["TURN_SECRET"], 300))
    print(found.message)
    return 0 if found.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
