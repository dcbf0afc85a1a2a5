"""The rendered site in a real nginx (1.22 here) in front of a stand-in web container.

The stand-in (upstream.py) replaces the Jitsi web container, which cannot be had on this machine;
it answers plain HTTP and echoes websockets, which is all the proxy layer sees of it.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from jitsi_deploy.model.proxy import ProxySettings
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.render.host import File, render_site
from jitsi_deploy.steps.certificates import (
    CertbotPaths,
    parse_probe,
    placeholder_plan,
    probe_command,
)
from jitsi_deploy.steps.changes import write_file
from jitsi_deploy.steps.handlers import reload_nginx
from tests.nginx.nginx_rig import (
    NginxUnderTest,
    PlanFailed,
    execute,
    get,
    https,
    make_webroot,
    upstream,
)

ADDRESS = "127.0.73.1"
HTTPS = f"{ADDRESS}:443"
HTTP = f"{ADDRESS}:80"
# Client source addresses: rate limits count per client IP, so each test uses its own.
NAT_OFFICE = "127.0.0.50"
FLOODER = "127.0.0.51"
MONITOR_ADMIN = "127.0.0.60"


@dataclass(frozen=True)
class Site:
    nginx: NginxUnderTest
    proxy: ProxySettings
    context: ssl.SSLContext


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("nginx")
    nginx = NginxUnderTest.create(root / "nginx")
    with upstream(ADDRESS) as web, upstream(ADDRESS) as monitor:
        proxy = ProxySettings(
            meet_host="meet.test",
            monitor_host="status.test",
            web_upstream=web,
            monitor_upstream=monitor,
            monitor_allow=(f"{MONITOR_ADMIN}/32",),
            kuma_ready=str(root / "kuma-ready"),
            acme_webroot=str(root / "acme"),
            tls_root=str(root / "tls"),
            http_listen=(HTTP,),
            https_listen=(HTTPS,),
            http2_style=nginx.http2_style(),
        )
        facts = parse_probe(_output(probe_command(proxy, _certbot(root))))
        make_webroot(proxy.acme_webroot)
        Path(proxy.kuma_ready).touch()  # Kuma claimed: the status site is open
        execute(placeholder_plan(proxy, facts))
        nginx.install_site(render_site(proxy))
        nginx.start()
        context = ssl.create_default_context(cafile=f"{proxy.tls_root}/meet.test/fullchain.pem")
        context.load_verify_locations(f"{proxy.tls_root}/status.test/fullchain.pem")
        try:
            yield Site(nginx, proxy, context)
        finally:
            nginx.stop()


def _certbot(root: Path) -> CertbotPaths:
    return CertbotPaths(str(root / "le"), str(root / "le-work"), str(root / "le-logs"))


def _output(command: Command) -> str:
    return subprocess.run(command.argv, capture_output=True, text=True, check=True).stdout


def test_nginx_accepts_the_site_without_warnings(site: Site) -> None:
    result = site.nginx.run("-t")
    assert result.returncode == 0
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def test_http_redirects_to_https_except_the_acme_challenge(site: Site) -> None:
    challenge = Path(site.proxy.acme_webroot, ".well-known/acme-challenge/token123")
    challenge.write_text("token123.thumbprint")
    plain = http.client.HTTPConnection(ADDRESS, 80)
    moved = get(plain, "/myroom?x=1", Host="meet.test")
    assert moved.status == 301
    assert moved.headers["Location"] == "https://meet.test/myroom?x=1"
    served = get(plain, "/.well-known/acme-challenge/token123", Host="meet.test")
    assert (served.status, served.body) == (200, b"token123.thumbprint")
    assert get(plain, "/.well-known/acme-challenge/missing", Host="meet.test").status == 404


def test_https_proxies_to_the_web_container_with_security_headers(site: Site) -> None:
    with https(HTTPS, "meet.test", site.context) as connection:
        reply = get(connection, "/myroom")
    assert reply.status == 200
    assert reply.body == b"upstream /myroom host=meet.test proto=https\n"
    assert reply.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert reply.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert reply.headers["Referrer-Policy"] == "strict-origin"
    # No frame-ancestors by default, as upstream: the iframe API and the desktop app embed it.
    assert "Content-Security-Policy" not in reply.headers
    permissions = reply.headers["Permissions-Policy"]
    for feature in ("camera=(self)", "microphone=(self)", "display-capture=(self)"):
        assert feature in permissions
    assert "clipboard-write" not in permissions  # not a Permissions-Policy feature


def test_static_assets_are_compressed_and_cacheable(site: Site) -> None:
    with https(HTTPS, "meet.test", site.context) as connection:
        reply = get(connection, "/libs/app.bundle.min.js?v=1", **{"Accept-Encoding": "gzip"})
        page = get(connection, "/config.js", **{"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(reply.body).startswith(b"console.log")
    assert reply.headers.get_all("Cache-Control") == ["max-age=604800"]
    assert page.headers.get_all("Cache-Control") == ["no-cache"]


def test_http2_is_negotiated(site: Site) -> None:
    result = subprocess.run(
        [
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_version}", "--http2",
            "--resolve", f"meet.test:443:{ADDRESS}",
            "--cacert", f"{site.proxy.tls_root}/meet.test/fullchain.pem",
            "https://meet.test/",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout == "2"


def _websocket(site: Site, name: str, path: str, source: str) -> connect:
    """A websocket through the test nginx from loopback `source` (asyncio: no reader threads)."""
    return connect(
        f"wss://{name}{path}",
        host=ADDRESS,
        port=443,
        local_addr=(source, 0),
        ssl=site.context,
        server_hostname=name,
        subprotocols=["xmpp"],
        open_timeout=10,
    )


async def _echo(site: Site, name: str, path: str, source: str, message: str) -> str:
    async with _websocket(site, name, path, source) as websocket:
        await websocket.send(message)
        return await asyncio.wait_for(websocket.recv(), 10)


@pytest.mark.parametrize("path", ["/xmpp-websocket", "/team/xmpp-websocket"])
def test_xmpp_websocket_carries_messages_both_ways(site: Site, path: str) -> None:
    """Rooms under a tenant path (/team/room) use /team/xmpp-websocket: upgraded the same."""
    stanza = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
    reply = asyncio.run(_echo(site, "meet.test", path, "127.0.0.40", stanza))
    assert reply == stanza


@pytest.mark.parametrize("path", ["/http-bind", "/team/http-bind"])
def test_bosh_is_proxied(site: Site, path: str) -> None:
    with https(HTTPS, "meet.test", site.context) as connection:
        reply = get(connection, path)
    assert (reply.status, reply.body) == (
        200,
        f"upstream {path} host=meet.test proto=https\n".encode(),
    )


def test_monitor_is_proxied_with_socket_io_for_allowed_networks_only(site: Site) -> None:
    path = "/socket.io/?EIO=4&transport=websocket"
    reply = asyncio.run(_echo(site, "status.test", path, MONITOR_ADMIN, "2probe"))
    assert reply == "2probe"
    with https(HTTPS, "status.test", site.context, source=MONITOR_ADMIN) as connection:
        dashboard = get(connection, "/dashboard")
    assert dashboard.body.startswith(b"upstream /dashboard host=status")
    # Kuma's admin pages are never framed by another site, whatever the meeting allows.
    assert dashboard.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    with https(HTTPS, "status.test", site.context, source="127.0.0.61") as connection:
        assert get(connection, "/dashboard").status == 403


def test_the_status_site_answers_503_until_kumas_admin_exists(site: Site) -> None:
    ready = Path(site.proxy.kuma_ready)
    ready.unlink()
    try:
        with https(HTTPS, "status.test", site.context, source=MONITOR_ADMIN) as connection:
            assert get(connection, "/dashboard").status == 503
        with https(HTTPS, "meet.test", site.context) as connection:
            assert get(connection, "/").status == 200  # the meeting site is never gated
    finally:
        ready.touch()
    with https(HTTPS, "status.test", site.context, source=MONITOR_ADMIN) as connection:
        assert get(connection, "/dashboard").status == 200


def test_a_meeting_of_50_behind_one_nat_is_not_limited(site: Site) -> None:
    for _ in range(50):
        with https(HTTPS, "meet.test", site.context, source=NAT_OFFICE) as connection:
            assert get(connection, "/office-meeting").status == 200
            assert get(connection, "/http-bind").status == 200
    assert asyncio.run(_meeting(site, 50)) == ["ping"] * 50


async def _meeting(site: Site, participants: int) -> list[str]:
    """Everyone holds a websocket open at the same time, then each says something."""
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                _websocket(site, "meet.test", "/xmpp-websocket", NAT_OFFICE)
            )
            for _ in range(participants)
        ]
        for websocket in sockets:
            await websocket.send("ping")
        return [await asyncio.wait_for(websocket.recv(), 10) for websocket in sockets]


def test_a_flood_of_requests_is_refused_with_429(site: Site) -> None:
    statuses = []
    with https(HTTPS, "meet.test", site.context, source=FLOODER) as connection:
        for _ in range(1000):
            statuses.append(get(connection, "/http-bind").status)
    assert set(statuses) == {200, 429}
    assert statuses.count(429) > 500


def install(site: Site, text: str) -> None:
    """The deploy's way: the file step writes the site (keeping the previous one), then the
    nginx reaction tests it and reloads, or puts the previous site back."""
    path = str(site.nginx.site_path)
    execute([write_file(File(path, text.encode())), reload_nginx((path,), site.nginx.control)])


def test_a_broken_site_change_is_refused_and_the_old_site_keeps_serving(site: Site) -> None:
    working = site.nginx.site_path.read_text()
    broken = working.replace("proxy_buffering off;", "proxy_buffering sideways;")
    with pytest.raises(PlanFailed) as failure:
        install(site, broken)
    assert "nginx -t refused the new config" in failure.value.output
    assert "proxy_buffering" in failure.value.output
    assert site.nginx.site_path.read_text() == working
    with https(HTTPS, "meet.test", site.context) as connection:
        assert get(connection, "/still-here").status == 200


def test_a_good_site_change_is_installed_and_reloaded(site: Site) -> None:
    changed = render_site(replace(site.proxy, frame_ancestors=("'self'", "https://intranet.test")))
    install(site, changed)
    assert site.nginx.site_path.read_text() == changed
    # nginx applies a reload asynchronously: a fresh connection goes to the new workers once
    # the old ones stop accepting, so ask until the new header shows (bounded).
    expected = "frame-ancestors 'self' https://intranet.test"
    seen = ""
    for _ in range(200):
        with https(HTTPS, "meet.test", site.context) as connection:
            seen = get(connection, "/").headers["Content-Security-Policy"]
        if seen == expected:
            break
    assert seen == expected
