"""A real ACME CA on loopback: Debian's pebble, with pebble-challtestsrv as its DNS server.

challtestsrv answers only the names a test registers (anything else is a DNS failure), so a
test decides which loopback address the CA connects to for the HTTP-01 challenge on port 80.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port


@dataclass(frozen=True)
class Pebble:
    directory: str  # ACME directory URL for certbot --server
    management: str  # pebble's management API (roots, intermediates)
    dns_management: str  # challtestsrv's API (DNS records)
    ca_bundle: Path  # trusts pebble's own HTTPS listener (for certbot's REQUESTS_CA_BUNDLE)

    def root_pem(self) -> str:
        """The root that issued the test certificates (new for every pebble run)."""
        with urllib.request.urlopen(f"{self.management}/roots/0", context=self._tls()) as reply:
            return reply.read().decode()

    def point(self, name: str, address: str) -> None:
        """Make `name` resolve to `address` only (A record) for the CA's validation."""
        host = json.dumps({"host": f"{name}."}).encode()
        urllib.request.urlopen(f"{self.dns_management}/clear-a", data=host).close()
        body = json.dumps({"host": f"{name}.", "addresses": [address]}).encode()
        urllib.request.urlopen(f"{self.dns_management}/add-a", data=body).close()

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def certbot_env(self) -> dict[str, str]:
        return {**os.environ, "REQUESTS_CA_BUNDLE": str(self.ca_bundle)}


@contextmanager
def pebble(root: Path, listen: str = "127.0.0.1") -> Iterator[Pebble]:
    """Pebble's ACME and management APIs on ``listen`` (loopback, or this machine's address on
    the test hosts' network so that a test host's certbot reaches it); DNS stays on loopback."""
    root.mkdir(parents=True, exist_ok=True)
    cert, key = root / "listener.pem", root / "listener.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", f"subjectAltName=IP:{listen},DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    acme, management = (free_port(listen) for _ in range(2))
    dns, dns_management = (free_port("127.0.0.1") for _ in range(2))
    config = {
        "pebble": {
            "listenAddress": f"{listen}:{acme}",
            "managementListenAddress": f"{listen}:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": 80,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (root / "pebble.json").write_text(json.dumps(config))
    dns_server = subprocess.Popen(
        ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns}",
         "-management", f"127.0.0.1:{dns_management}", "-http01", "", "-https01", "",
         "-tlsalpn01", "", "-defaultIPv4", "", "-defaultIPv6", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # No sleeps between validation attempts, no random nonce rejections (certbot would retry),
    # and every order validated anew (a reused authorization would hide a failing challenge).
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
    ca = subprocess.Popen(
        ["pebble", "-config", str(root / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = Pebble(
        f"https://{listen}:{acme}/dir",
        f"https://{listen}:{management}",
        f"http://127.0.0.1:{dns_management}",
        cert,
    )
    try:
        _wait_until_up(server)
        yield server
    finally:
        for process in (ca, dns_server):
            process.terminate()
            process.wait()


def _wait_until_up(server: Pebble) -> None:
    """Startup readiness (bounded), not a timing assertion: both daemons answer their APIs."""
    for _ in range(100):
        try:
            server.root_pem()
            host, port = server.dns_management.removeprefix("http://").split(":")
            socket.create_connection((host, int(port))).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pebble or pebble-challtestsrv did not come up")
