"""The smoke step's TURN client against a real coturn 4.6 (Debian's turnserver) on this machine,
configured as a Jitsi site's: REST API secret, a realm, TLS, and the private ranges denied as
peers but for 127.0.0.2, the one legitimate loopback peer. coturn's own client
(turnutils_uclient) cross-checks the credentials the module computes.
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jitsi_deploy.model.turn import DENIED_PEERS
from jitsi_deploy.smoke.turn import Address, Server, TurnClient, TurnError, probe, rest_credentials
from tests.ports import free_port

HOST, PEER_IP, NAME, REALM = "127.0.0.1", "127.0.0.2", "turn.test", "turn.test"


@dataclass(frozen=True)
class Coturn:
    port: int
    tls_port: int
    relay_ports: range
    secret: str
    cert: Path
    log: Path

    def server(self, transport: str) -> Server:
        port = self.tls_port if transport == "tls" else self.port
        return Server(HOST, port, transport, server_name=NAME, cafile=str(self.cert), timeout=3)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    root = tmp_path_factory.mktemp("coturn")
    cert, key = _self_signed(root)
    low = _free_udp_range(10)
    turn = Coturn(
        free_port(HOST), free_port(HOST), range(low, low + 10), secrets.token_hex(16), cert,
        root / "turnserver.log",
    )  # fmt: skip
    config = root / "turnserver.conf"
    config.write_text(_config(turn, key, root))
    with (root / "stdout.log").open("wb") as out:
        process = subprocess.Popen(["turnserver", "-c", str(config)], stdout=out, stderr=out)
    try:
        _wait_listening(turn, process)
        yield turn
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _config(turn: Coturn, key: Path, root: Path) -> str:
    lines = [
        f"listening-ip={HOST}",
        f"relay-ip={HOST}",
        f"listening-port={turn.port}",
        f"tls-listening-port={turn.tls_port}",
        f"min-port={turn.relay_ports.start}",
        f"max-port={turn.relay_ports.stop - 1}",
        "use-auth-secret",
        f"static-auth-secret={turn.secret}",
        f"realm={REALM}",
        f"cert={turn.cert}",
        f"pkey={key}",
        "fingerprint",  # its responses end in FINGERPRINT, which the parser must take in its stride
        "no-dtls",
        "no-cli",
        "no-tcp-relay",
        "no-rfc5780",
        "no-multicast-peers",
        # coturn refuses loopback peers before it reads allowed-peer-ip; the test needs one.
        "allow-loopback-peers",
        *(f"denied-peer-ip={block}" for block in DENIED_PEERS),
        f"allowed-peer-ip={PEER_IP}",
        f"log-file={turn.log}",
        "simple-log",
        f"pidfile={root / 'turnserver.pid'}",
        f"userdb={root / 'turndb'}",  # not /var/lib/turn's
    ]
    return "\n".join(lines) + "\n"


def _self_signed(root: Path) -> tuple[Path, Path]:
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _free_udp_range(size: int) -> int:
    """The first of ``size`` consecutive UDP ports free on HOST right now (for the relays),
    below the kernel's ephemeral range, where other tests' sockets would take them later."""
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        low = random.randrange(10000, ephemeral - size)
        sockets = []
        try:
            for port in range(low, low + size):
                sockets.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                sockets[-1].bind((HOST, port))
            return low
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free range of UDP ports for coturn's relays")


def _wait_listening(turn: Coturn, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"turnserver exited with {process.returncode}:\n{turn.logs()}")
        try:
            for port in (turn.port, turn.tls_port):
                socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"turnserver did not listen on {turn.port} and {turn.tls_port}:\n{turn.logs()}")


@pytest.fixture
def echo_peer() -> Iterator[tuple[Address, list[Address]]]:
    """A UDP echo on 127.0.0.2, and the sources of what it echoed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((PEER_IP, 0))
    sock.settimeout(0.2)
    sources: list[Address] = []
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data, source = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sources.append(Address(*source))
            sock.sendto(data, source)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    yield Address(*sock.getsockname()), sources
    stop.set()
    thread.join(5)
    sock.close()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_fresh_credentials_allocate_a_relay_in_the_configured_range(
    coturn: Coturn, transport: str
) -> None:
    user, password = rest_credentials(coturn.secret, ttl=3600, name="smoke")
    result = probe(coturn.server(transport), user, password)
    assert result.ok, f"{result.message}\n{coturn.logs()}"
    assert result.relayed is not None
    assert result.relayed.ip == HOST
    assert result.relayed.port in coturn.relay_ports, result


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda secret: rest_credentials(secret + "x", ttl=3600), id="wrong-secret"),
        pytest.param(
            lambda secret: rest_credentials(secret, ttl=0, now=time.time() - 60), id="expired"
        ),
    ],
)
def test_bad_credentials_are_refused_with_401(coturn: Coturn, credentials) -> None:
    user, password = credentials(coturn.secret)
    with TurnClient(coturn.server("udp")) as client, pytest.raises(TurnError) as refused:
        client.allocate(user, password)
    assert refused.value.code == 401, refused.value
    result = probe(coturn.server("tcp"), user, password)
    assert not result.ok and result.error_code == 401
    assert "static-auth-secret" in result.message, result.message


def test_a_closed_client_gives_its_relay_port_back(coturn: Coturn) -> None:
    """With every relay port taken, closing one client frees its port within coturn's
    one-second tick; left to expire it would stay taken for ten minutes (each udp probe of the
    health check would hold one)."""
    credentials = rest_credentials(coturn.secret, ttl=600)
    with contextlib.ExitStack() as clients:
        for _ in range(len(coturn.relay_ports) + 1):
            client = clients.enter_context(TurnClient(coturn.server("udp")))
            try:
                client.allocate(*credentials)
            except TurnError as full:
                assert full.code == 508, full
                break
        else:
            pytest.fail(f"more allocations than the {len(coturn.relay_ports)} relay ports")
    deadline = time.monotonic() + 5
    while not (result := probe(coturn.server("udp"), *credentials)).ok:
        assert result.error_code == 508 and time.monotonic() < deadline, result.message
        time.sleep(0.1)


def test_only_the_allowed_peer_is_permitted(coturn: Coturn) -> None:
    with TurnClient(coturn.server("udp")) as client:
        client.allocate(*rest_credentials(coturn.secret, ttl=600))
        for denied in ("127.0.0.1", "10.1.2.3", "172.17.0.1"):
            with pytest.raises(TurnError) as refused:
                client.create_permission(denied)
            assert refused.value.code == 403, (denied, refused.value)
        client.create_permission(PEER_IP)


def test_a_stale_nonce_is_renewed_once(coturn: Coturn) -> None:
    with TurnClient(coturn.server("tcp")) as client:
        client.allocate(*rest_credentials(coturn.secret, ttl=600))
        client.nonce = b"0123456789abcdef"  # as after coturn's stale-nonce period: it answers 438
        client.create_permission(PEER_IP)
        assert client.nonce != b"0123456789abcdef"


def test_a_datagram_goes_through_the_relay_to_the_peer_and_back_over_tls(
    coturn: Coturn, echo_peer: tuple[Address, list[Address]]
) -> None:
    peer, sources = echo_peer
    result = probe(coturn.server("tls"), *rest_credentials(coturn.secret, ttl=600), peer=peer)
    assert result.ok and result.echoed, f"{result.message}\n{coturn.logs()}"
    assert sources == [result.relayed], "the peer should have heard the relay, once"


def test_a_denied_peer_is_reported_to_the_operator(coturn: Coturn) -> None:
    credentials = rest_credentials(coturn.secret, ttl=600)
    result = probe(coturn.server("udp"), *credentials, peer=Address("10.1.2.3", 9))
    assert not result.ok and result.error_code == 403 and result.relayed, result
    assert "denied-peer-ip" in result.message, result.message


def test_a_certificate_for_another_name_is_refused(coturn: Coturn) -> None:
    server = Server(HOST, coturn.tls_port, "tls", server_name="other.test", cafile=str(coturn.cert))
    result = probe(server, *rest_credentials(coturn.secret, ttl=600))
    assert not result.ok and result.relayed is None
    assert "certificate" in result.message, result.message


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_a_silent_server_is_reported_within_the_timeout(transport: str) -> None:
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as silent:
        silent.bind((HOST, 0))
        if kind == socket.SOCK_STREAM:
            silent.listen()  # accepts (the kernel does), answers nothing
        started = time.monotonic()
        result = probe(Server(HOST, silent.getsockname()[1], transport, timeout=1), "1:x", "y")
    assert not result.ok and result.relayed is None, result
    assert time.monotonic() - started < 3, result
    assert "no answer" in result.message or "timed out" in result.message, result.message


def test_a_server_that_speaks_something_else_is_reported() -> None:
    with socket.create_server((HOST, 0)) as web:
        answer = threading.Thread(
            target=lambda: web.accept()[0].sendall(b"HTTP/1.1 400 Bad\r\n" * 3)
        )
        answer.start()
        result = probe(Server(HOST, web.getsockname()[1], "tcp", timeout=2), "1:x", "y")
        answer.join(5)
    assert not result.ok and "does not speak STUN" in result.message, result.message


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_coturns_own_client_accepts_the_same_credentials(coturn: Coturn, transport: str) -> None:
    user, password = rest_credentials(coturn.secret, ttl=600)
    output = _uclient(coturn, transport, user, password)
    # Its closing tally; the exit code alone is 0 even when nothing came back.
    totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", output)
    assert totals and totals[-1] == ("20", "20"), f"turnutils_uclient:\n{output[-3000:]}"


def test_coturns_own_client_fails_with_a_wrong_password(coturn: Coturn) -> None:
    user, password = rest_credentials(coturn.secret, ttl=600)
    output = _uclient(coturn, "udp", user, password[::-1])
    assert "Cannot complete Allocation" in output, output[-3000:]
    assert "tot_recv_msgs=20" not in output


def _uclient(coturn: Coturn, transport: str, user: str, password: str) -> str:
    """What turnutils_uclient says of 20 messages to an echo peer (turnutils_peer) via coturn."""
    peer_port = free_port(PEER_IP)
    peer = subprocess.Popen(
        ["turnutils_peer", "-L", PEER_IP, "-p", str(peer_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    tls = ["-t", "-S"] if transport == "tls" else []  # -S alone would be DTLS
    port = coturn.tls_port if transport == "tls" else coturn.port
    try:
        done = subprocess.run(
            ["turnutils_uclient", *tls, "-u", user, "-w", password, "-e", PEER_IP,
             "-r", str(peer_port), "-p", str(port), "-n", "20", "-l", "120", "-c", "-X", HOST],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        peer.terminate()
        peer.wait(10)
    return done.stdout + done.stderr
