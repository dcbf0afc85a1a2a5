"""Certificates from a real ACME CA (pebble) with real certbot, served by a real nginx.

The plan commands of jitsi_deploy.tls run on this machine as if it were the host; certbot,
nginx and the stand-in web container (tests/nginx/upstream.py) use their own directories and
loopback addresses, so nothing of the machine's own nginx or /etc/letsencrypt is touched.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from acme_rig import Pebble, pebble
from cryptography import x509
from nginx_rig import NginxUnderTest, PlanFailed, execute, make_webroot, upstream
from websockets.asyncio.client import connect

from jitsi_deploy.model.proxy import ProxySettings, render_site
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.steps.certificates import (
    CertbotPaths,
    TlsSettings,
    certificate_plan,
    explain_certbot_failure,
    parse_probe,
    placeholder_plan,
    probe_command,
    renew_command,
)

ADDRESS = "127.0.73.2"
NOTHING_LISTENS = "127.0.73.3"
WRONG_SERVER = "127.0.73.4"


@dataclass(frozen=True)
class Host:
    nginx: NginxUnderTest
    proxy: ProxySettings
    certbot: CertbotPaths
    ca: Pebble

    def settings(self) -> TlsSettings:
        return TlsSettings("letsencrypt", email="admin@meet.test", acme_server=self.ca.directory)

    def plan(self) -> list[Command]:
        facts = parse_probe(_stdout(probe_command(self.proxy, self.certbot)))
        return certificate_plan(
            self.settings(), self.proxy, facts, self.nginx.control, self.certbot
        )


def _stdout(command: Command) -> str:
    return subprocess.run(command.argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("acme")
    nginx = NginxUnderTest.create(root / "nginx")
    certbot = CertbotPaths(str(root / "le"), str(root / "le-work"), str(root / "le-logs"))
    with pebble(root / "pebble") as ca, upstream(ADDRESS) as web:
        proxy = ProxySettings(
            meet_host="meet.test",
            monitor_host="status.test",
            web_upstream=web,
            monitor_upstream=web,
            acme_webroot=str(root / "acme"),
            tls_root=str(root / "tls"),
            http_listen=(f"{ADDRESS}:80",),
            https_listen=(f"{ADDRESS}:443",),
        )
        for name in proxy.host_names():
            ca.point(name, ADDRESS)
        # First deploy, as the lead's deploy runs it: placeholder, site, nginx up, certificates.
        facts = parse_probe(_stdout(probe_command(proxy, certbot)))
        make_webroot(proxy.acme_webroot)
        execute(placeholder_plan(proxy, facts))
        nginx.install_site(render_site(proxy))
        nginx.start()
        try:
            yield Host(nginx, proxy, certbot, ca)
        finally:
            nginx.stop()


def _served(host: Host, name: str) -> x509.Certificate:
    """The certificate nginx presents for `name`, verified against pebble's root."""
    context = ssl.create_default_context(cadata=host.ca.root_pem())
    with (
        socket.create_connection((ADDRESS, 443)) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _on_disk(host: Host, name: str) -> x509.Certificate:
    """The certificate certbot's lineage currently holds for `name`."""
    chain = Path(host.certbot.live(name), "cert.pem").read_bytes()
    return x509.load_pem_x509_certificate(chain)


def _served_once_reloaded(host: Host, name: str) -> x509.Certificate:
    """What nginx serves once a reload has settled on the lineage's current certificate.

    `nginx -s reload` returns before the old workers stop accepting, so new connections may
    reach them for a moment: ask again (bounded) until the answer is the lineage's certificate,
    and return the last answer for the test to judge.
    """
    wanted = _on_disk(host, name).serial_number
    cert = None
    for _ in range(100):
        try:
            cert = _served(host, name)
        except ssl.SSLCertVerificationError:  # still the self-signed placeholder
            cert = None
        if cert is not None and cert.serial_number == wanted:
            break
        time.sleep(0.05)
    assert cert is not None, f"nginx never served a certificate from the CA for {name}"
    return cert


@pytest.fixture(scope="module")
def issued(host: Host) -> dict[str, x509.Certificate]:
    """The certificates after the first deploy's plan ran."""
    execute(host.plan(), env=host.ca.certbot_env())
    return {name: _served_once_reloaded(host, name) for name in host.proxy.host_names()}


def test_the_plan_obtains_a_certificate_per_name_that_verifies_against_the_ca(
    host: Host,
    issued: dict[str, x509.Certificate],
) -> None:
    for name, cert in issued.items():
        assert cert.serial_number == _on_disk(host, name).serial_number
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert names.value.get_values_for_type(x509.DNSName) == [name]


def test_a_second_deploy_has_nothing_to_do(host: Host, issued: dict) -> None:
    assert host.plan() == []


def test_renewal_reloads_nginx_without_dropping_an_open_websocket(
    host: Host, issued: dict[str, x509.Certificate]
) -> None:
    before = issued["meet.test"]
    asyncio.run(_renew_during_a_meeting(host))
    assert _on_disk(host, "meet.test").serial_number != before.serial_number
    after = _served_once_reloaded(host, "meet.test")
    assert after.serial_number == _on_disk(host, "meet.test").serial_number


async def _renew_during_a_meeting(host: Host) -> None:
    context = ssl.create_default_context(cadata=host.ca.root_pem())
    async with connect(
        "wss://meet.test/xmpp-websocket", host=ADDRESS, port=443, ssl=context,
        server_hostname="meet.test", open_timeout=10,
    ) as websocket:  # fmt: skip
        await websocket.send("before renewal")
        assert await asyncio.wait_for(websocket.recv(), 10) == "before renewal"
        renewal = await asyncio.create_subprocess_exec(
            *renew_command(host.certbot, force=True).argv,
            env=host.ca.certbot_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await renewal.communicate()
        assert renewal.returncode == 0, output.decode()
        await websocket.send("after renewal")
        assert await asyncio.wait_for(websocket.recv(), 10) == "after renewal"


def test_a_failed_renewal_keeps_the_current_certificate(host: Host, issued: dict) -> None:
    serving = _served_once_reloaded(host, "status.test")
    host.ca.point("status.test", NOTHING_LISTENS)
    try:
        result = subprocess.run(
            renew_command(host.certbot, force=True).argv,
            env=host.ca.certbot_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        host.ca.point("status.test", ADDRESS)
    assert result.returncode != 0
    assert _on_disk(host, "status.test").serial_number == serving.serial_number
    assert _served(host, "status.test").serial_number == serving.serial_number
    assert "could not connect to port 80" in explain_certbot_failure(result.stdout + result.stderr)


def _obtain_failure(host: Host, name: str) -> str:
    settings = host.settings()
    command = certificate_plan(
        settings,
        ProxySettings(meet_host=name, acme_webroot=host.proxy.acme_webroot),
        parse_probe(""),
        host.nginx.control,
        host.certbot,
    )[-2]
    with pytest.raises(PlanFailed) as failure:
        execute([command], env=host.ca.certbot_env())
    return failure.value.output


def test_explains_a_name_without_dns(host: Host, issued: dict) -> None:
    reason = explain_certbot_failure(_obtain_failure(host, "nodns.test"))
    assert "nodns.test" in reason and "could not find the host name in DNS" in reason


def test_explains_port_80_unreachable(host: Host, issued: dict) -> None:
    host.ca.point("closed.test", NOTHING_LISTENS)
    reason = explain_certbot_failure(_obtain_failure(host, "closed.test"))
    assert "closed.test" in reason and "could not connect to port 80" in reason


def test_explains_a_name_pointing_at_another_web_server(host: Host, issued: dict) -> None:
    host.ca.point("elsewhere.test", WRONG_SERVER)
    server = http.server.HTTPServer((WRONG_SERVER, 80), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        output = _obtain_failure(host, "elsewhere.test")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    reason = explain_certbot_failure(output)
    assert "did not serve the challenge file" in reason, output


def test_the_renewal_hook_is_installed(host: Host, issued: dict) -> None:
    hook = Path(host.certbot.hook)
    assert hook.stat().st_mode & 0o777 == 0o755
    assert " ".join(host.nginx.control.test) in hook.read_text()
