"""The SSH tunnel over a real Fabric connection to a rig test host (systemd + sshd container).

A web server bound to the host's 127.0.0.1 stands where Kuma listens on a deployed host: only
the tunnel reaches it. The last test drives a whole converge (Socket.IO, polling and websocket)
through the tunnel to a real Kuma that the test host reaches on the rig network.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
from fabric import Connection

from jitsi_deploy.monitoring.kuma import Admin, Retry, converge
from jitsi_deploy.monitoring.monitors import HostSpec, push_token, wanted_monitors
from jitsi_deploy.monitoring.tunnel import kuma_tunnel
from tests.rig.hosts import NETWORK, TestHost, host_exec

from . import containers

pytestmark = pytest.mark.docker

PORT = 8731  # the loopback-only server on the host
SERVED = "/srv/tunnel-test"


@pytest.fixture(scope="module")
def host(make_host) -> TestHost:
    return make_host("bookworm")


@pytest.fixture(scope="module")
def token(host: TestHost) -> str:
    """Serve a random token from the host's loopback only (as Kuma is published there)."""
    token = os.urandom(16).hex()
    host_exec(host, "mkdir", "-p", SERVED, check=True)
    host_exec(host, "sh", "-c", f"cat > {SERVED}/token", input=token, check=True)
    server = f"python3 -m http.server {PORT} --bind 127.0.0.1 --directory {SERVED}"
    host_exec(host, "sh", "-c", f"setsid {server} >/dev/null 2>&1 < /dev/null &", check=True)
    deadline = time.monotonic() + 30
    while host_exec(host, "curl", "-sf", f"http://127.0.0.1:{PORT}/token").stdout != token:
        assert time.monotonic() < deadline, "the host's loopback server did not start"
        time.sleep(0.2)
    return token


@pytest.fixture
def connection(host: TestHost, tmp_path: Path) -> Iterator[Connection]:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(host.known_hosts_line() + "\n")
    conn = Connection(
        host.address,
        user=host.user,
        port=host.port,
        connect_timeout=15,
        connect_kwargs={"key_filename": str(host.key_path), "look_for_keys": False},
    )
    conn.client.load_host_keys(str(known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with conn:
        yield conn


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def test_the_tunnel_reaches_the_hosts_loopback(host: TestHost, token: str, connection):
    with pytest.raises(OSError):  # not reachable from outside the host
        socket.create_connection((host.address, PORT), timeout=5).close()

    with kuma_tunnel(connection, remote_port=PORT) as url:
        assert url.startswith("http://127.0.0.1:")
        assert fetch(f"{url}/token") == token
        with ThreadPoolExecutor(max_workers=8) as pool:  # one channel per connection
            assert list(pool.map(fetch, [f"{url}/token"] * 16)) == [token] * 16


def test_the_forward_ends_with_the_block_and_the_connection_stays(token: str, connection):
    with kuma_tunnel(connection, remote_port=PORT) as url:
        assert fetch(f"{url}/token") == token
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert connection.run("echo still-open", hide=True, in_stream=False).stdout.strip() == (
        "still-open"
    )


def test_nothing_listening_on_the_host_fails_fast(connection):
    started = time.monotonic()
    with kuma_tunnel(connection, remote_port=PORT + 1) as url, pytest.raises(OSError):
        fetch(f"{url}/token")  # urllib.error.URLError and connection resets are OSErrors
    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_a_converge_runs_through_the_tunnel(connection, make_kuma, prosody: str):
    kuma = make_kuma()
    containers.docker("network", "connect", NETWORK, kuma.name)
    template = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
    address = containers.docker("inspect", "--format", template, kuma.name).strip()
    hosts = [HostSpec("meet1", "core", push_token("secret", "meet1"))]
    monitors = wanted_monitors(public_url=prosody, monitor_hostname="", hosts=hosts)
    admin = Admin("admin", os.urandom(8).hex())

    with kuma_tunnel(connection, remote_port=3001, remote_host=address) as url:
        report = converge(url, admin, monitors, retry=Retry(5, 0.5, 2.0))
        again = converge(url, admin, monitors, retry=Retry(5, 0.5, 2.0))

    assert report.complete, report.warnings
    assert sorted(report.created) == sorted(m.name for m in monitors)
    assert again.complete and not again.changed
