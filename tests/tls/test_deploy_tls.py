"""`fab deploy` with TLS_MODE=letsencrypt against a real ACME server, on a Debian test host.

Debian's pebble plays the CA (its directory given as ACME_SERVER, as for any private CA); it
listens on this machine's address on the test hosts' network, and pebble-challtestsrv resolves
the site's names to the test host, so the HTTP-01 challenge reaches the host's nginx for real.
The host trusts pebble's API certificate the way a server trusts a private CA: in its store.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec, rig_gateway
from tests.tls.acme_rig import Pebble, pebble

pytestmark = pytest.mark.slow
NAMES = ("meet.test", "status.test")


@pytest.fixture(scope="module")
def deployed(make_host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    host = make_host("bookworm")
    folder = tmp_path_factory.mktemp("tls-site")
    with pebble(folder / "pebble", listen=rig_gateway()) as ca:
        for name in NAMES:
            ca.point(name, host.address)
        trust_api_certificate(host, ca)
        site = Site(folder, [host])
        site.write(
            {
                "PUBLIC_URL": "https://meet.test",
                "MONITOR_HOSTNAME": "status.test",
                "TLS_MODE": "letsencrypt",
                "LETSENCRYPT_EMAIL": "admin@example.org",
                "ACME_SERVER": ca.directory,
            }
        )
        site.trust()
        first = site.fab("deploy")
        yield host, ca, site, first


def trust_api_certificate(host: TestHost, ca: Pebble) -> None:
    pem = ca.ca_bundle.read_text()
    path = "/usr/local/share/ca-certificates/test-acme.crt"
    host_exec(host, "sh", "-c", f"cat > {path}", input=pem, check=True)
    host_exec(host, "update-ca-certificates", check=True)


def served_certificate(host: TestHost, name: str, root_pem: str) -> dict:
    """The certificate nginx serves for ``name``, verified against the CA's root.

    nginx finishes a reload in the background: until the old workers stop, a new connection may
    still get the placeholder, so ask again a bounded number of times."""
    context = ssl.create_default_context(cadata=root_pem)
    for _ in range(50):
        try:
            with (
                socket.create_connection((host.address, 443), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname=name) as tls,
            ):
                certificate = tls.getpeercert()
                assert certificate is not None
                return certificate
        except ssl.SSLCertVerificationError:
            time.sleep(0.2)
    raise AssertionError(f"{name}: nginx never served a certificate from the test CA")


def test_the_deploy_ends_with_certificates_from_the_acme_server(deployed: tuple) -> None:
    host, ca, _, first = deployed
    assert first.returncode == 0, first.stdout + first.stderr
    assert "obtain a certificate for meet.test (ACME HTTP-01)" in first.stdout
    for name in NAMES:
        certificate = served_certificate(host, name, ca.root_pem())
        assert ("commonName", name) in [pair for rdn in certificate["subject"] for pair in rdn] or (
            ("DNS", name) in certificate["subjectAltName"]
        )


def test_a_second_deploy_asks_for_no_certificate(deployed: tuple) -> None:
    _, _, site, _ = deployed
    again = site.fab("deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged: nothing to do" in again.stdout
    assert "obtain a certificate" not in again.stdout


def test_the_renewal_hook_is_in_place(deployed: tuple) -> None:
    host = deployed[0]
    hook = "/etc/letsencrypt/renewal-hooks/deploy/jitsi-reload-nginx.sh"
    assert host_exec(host, "test", "-x", hook).returncode == 0


def test_http_redirects_except_the_challenge_path(deployed: tuple) -> None:
    host = deployed[0]
    answer = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
         "--resolve", f"meet.test:80:{host.address}", "http://meet.test/room"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert answer == "301 https://meet.test/room"
    challenge = "/.well-known/acme-challenge/absent"
    missing = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         "--resolve", f"meet.test:80:{host.address}", f"http://meet.test{challenge}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert missing == "404"


def test_a_failing_acme_order_is_explained_not_dumped(make_host, tmp_path: Path) -> None:
    """No DNS record for the name: the deploy fails that host with the reason in a sentence."""
    host = make_host("bookworm")
    with pebble(tmp_path / "pebble", listen=rig_gateway()) as ca:
        trust_api_certificate(host, ca)
        site = Site(tmp_path, [host])
        site.write(
            {
                "PUBLIC_URL": "https://nowhere.test",
                "MONITOR_HOSTNAME": "status-nowhere.test",
                "TLS_MODE": "letsencrypt",
                "LETSENCRYPT_EMAIL": "admin@example.org",
                "ACME_SERVER": ca.directory,
            }
        )
        site.trust()
        result = site.fab("deploy")
    assert result.returncode == 1
    assert "could not find the host name in DNS" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert served_certificate_is_placeholder(host, "nowhere.test")


def served_certificate_is_placeholder(host: TestHost, name: str) -> bool:
    """nginx still serves the self-signed placeholder: the failure broke nothing."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host.address}:443", "-servername", name],
        input="", capture_output=True, text=True, timeout=20, check=False,
    ).stdout  # fmt: skip
    return f"issuer=CN = {name}" in out or f"issuer=CN={name}" in out
