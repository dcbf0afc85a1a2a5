"""`fab deploy` with TLS_MODE=letsencrypt against a real ACME server, on a Debian 13 test host
(the shared e2e site's core is Debian 12: both releases run the TURN server and the split).

Debian's pebble plays the CA (its directory given as ACME_SERVER, as for any private CA); it
listens on this machine's address on the test hosts' network, and pebble-challtestsrv resolves
the site's names to the test host, so the HTTP-01 challenge reaches the host's nginx for real.
The host trusts pebble's API certificate the way a server trusts a private CA: in its store.

The site has a TURN server too (TURN_HOSTNAME): its name gets a certificate from the same CA by
the same machinery, nginx's stream split on 443 sends it to nginx's own TLS end for TURN, and
the site's names reach the sites behind the split.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.settings.envfile import parse_env
from jitsi_deploy.smoke import turn
from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec, rig_gateway
from tests.tls.acme_rig import Pebble, pebble

pytestmark = pytest.mark.slow
NAMES = ("meet.test", "status.test")
TURN_NAME = "turn.test"


@pytest.fixture(scope="module")
def deployed(make_host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    host = make_host("trixie")
    folder = tmp_path_factory.mktemp("tls-site")
    with pebble(folder / "pebble", listen=rig_gateway()) as ca:
        for name in (*NAMES, TURN_NAME):
            ca.point(name, host.address)
        trust_api_certificate(host, ca)
        site = Site(folder, [host])
        site.settings |= {
            "PUBLIC_URL": "https://meet.test",
            "MONITOR_HOSTNAME": "status.test",
            "TURN_HOSTNAME": TURN_NAME,
            "TLS_MODE": "letsencrypt",
            "LETSENCRYPT_EMAIL": "admin@example.org",
            "ACME_SERVER": ca.directory,
        }
        site.write()
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


def names(certificate: dict) -> set[str]:
    """The names a certificate is for: its common name and its DNS alternative names."""
    common = {value for rdn in certificate["subject"] for key, value in rdn if key == "commonName"}
    return common | {value for key, value in certificate.get("subjectAltName", ()) if key == "DNS"}


def test_the_deploy_ends_with_certificates_from_the_acme_server(deployed: tuple) -> None:
    """The site's names get theirs on 443 through the TLS split (the TURN server's is in place)."""
    host, ca, _, first = deployed
    assert first.returncode == 0, first.stdout + first.stderr
    assert "obtain a certificate for meet.test (ACME HTTP-01)" in first.stdout
    assert host_exec(host, "test", "-f", paths.NGINX_STREAM).returncode == 0, "no TLS split"
    for name in NAMES:
        certificate = served_certificate(host, name, ca.root_pem())
        assert name in names(certificate)


def test_the_turn_names_certificate_is_from_the_acme_server_too(deployed: tuple) -> None:
    """nginx's TLS end for TURN (reached on 443 by asking for the TURN name) serves the
    certificate the CA issued for that name, not the site's nor a placeholder."""
    host, ca, _, first = deployed
    assert f"obtain a certificate for {TURN_NAME} (ACME HTTP-01)" in first.stdout
    certificate = served_certificate(host, TURN_NAME, ca.root_pem())
    assert names(certificate) == {TURN_NAME}


def test_turn_over_tls_on_443_with_a_verified_certificate(deployed: tuple, tmp_path: Path):
    """A TURN client that checks the certificate against the CA (as a browser does against the
    public ones) allocates a relay with credentials made from the site's secret; without the
    test CA it refuses the certificate, so the check is real."""
    host, ca, site, _ = deployed
    root = tmp_path / "pebble-root.pem"
    root.write_text(ca.root_pem())
    secret = parse_env(site.folder / ".secrets.env")[0].values["TURN_CREDENTIALS"]
    verified = turn.Server(host.address, 443, "tls", TURN_NAME, cafile=str(root), verify=True)
    allocated = turn.probe(verified, *turn.rest_credentials(secret, 600))
    assert allocated.ok, allocated.message
    unknown_ca = turn.probe(replace(verified, cafile=None), *turn.rest_credentials(secret, 600))
    assert not unknown_ca.ok and "certificate is refused" in unknown_ca.message, unknown_ca


def test_a_second_deploy_asks_for_no_certificate(deployed: tuple) -> None:
    """Not for the site's two names, nor for the TURN name."""
    _, _, site, _ = deployed
    again = site.fab("deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged: nothing to do" in again.stdout
    assert "obtain a certificate" not in again.stdout


def test_the_renewal_hook_is_in_place(deployed: tuple) -> None:
    """certbot runs the deploy hooks for every renewed lineage, the TURN name's too: reloading
    nginx is what puts a renewed TURN certificate in use, as nginx ends TLS for TURN."""
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


def test_a_failing_acme_order_is_explained_not_dumped(deployed: tuple) -> None:
    """Last of the module: the monitor renamed to a name with no DNS record. The deploy fails
    the host with the reason in a sentence; nginx serves the placeholder for that name and
    keeps every other name's certificate."""
    host, ca, site, _ = deployed
    site.write({"MONITOR_HOSTNAME": "status-nowhere.test"})
    result = site.fab("deploy")
    assert result.returncode == 1
    assert "could not find the host name in DNS" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert served_certificate_is_placeholder(host, "status-nowhere.test")
    for name in ("meet.test", TURN_NAME):
        assert names(served_certificate(host, name, ca.root_pem())) == {name}


def served_certificate_is_placeholder(host: TestHost, name: str) -> bool:
    """nginx still serves the self-signed placeholder: the failure broke nothing."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host.address}:443", "-servername", name],
        input="", capture_output=True, text=True, timeout=20, check=False,
    ).stdout  # fmt: skip
    return f"issuer=CN = {name}" in out or f"issuer=CN={name}" in out
