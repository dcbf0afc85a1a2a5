"""The local stand-in for a deployed site: real Prosody 13 behind the project's rendered nginx.

Prosody plays the web container's part for the routes the smoke checks use: BOSH on /http-bind,
the XMPP websocket on /xmpp-websocket and its own HTML page on /, all on its HTTP port, which the
rendered site proxies to. There is no jicofo, so anonymous users may create rooms here (in a
deployment focus creates them on the user's request); the room policy still decides every join.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from jitsi_deploy.model.proxy import ProxySettings
from jitsi_deploy.render.host import render_site
from jitsi_deploy.render.templating import render_template
from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke.xmpp import Endpoint
from jitsi_deploy.steps.certificates import parse_probe, placeholder_plan
from tests.nginx.nginx_rig import NginxUnderTest, execute, make_webroot
from tests.prosody import server
from tests.prosody.server import Prosody, Setup

MEET_HOST = "meet.smoke.test"


# What the Jitsi image's config gives the meeting domain's HTTP side, in Prosody terms: BOSH and
# the websocket behind a TLS proxy, for any Host header; Prosody's own HTML page answers on /.
WEB_SETTINGS = """
consider_bosh_secure = true
consider_websocket_secure = true
cross_domain_bosh = true
cross_domain_websocket = true
http_default_host = "meet.jitsi"

VirtualHost "meet.jitsi"
    modules_enabled = { "bosh"; "websocket" }

-- Where the Jitsi image logs guests in when ENABLE_AUTH=1 and ENABLE_GUESTS=1.
VirtualHost "guest.meet.jitsi"
    authentication = "anonymous"
"""


@contextmanager
def prosody(rooms: RoomPolicy) -> Iterator[Prosody]:
    """Prosody 13 in its container, letting anonymous users create the policy's rooms.

    The folder is short on purpose: opening room creation repeats an option of the test config,
    and Prosody 13 fails (instead of warning) on a repeated option when the config's path is
    too long for Lua to report its line number.
    """
    directory = Path(tempfile.mkdtemp(prefix="smoke-"))
    policy = render_template("prosody/room-policy.cfg.lua.j2", site=SimpleNamespace(rooms=rooms))
    setup = Setup(policy + WEB_SETTINGS, {"restrict_room_creation": False})
    try:
        running = server.start("13", directory, setup, {})
        try:
            yield running
        finally:
            server.stop(running)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class Site:
    """The rendered nginx site in front of an upstream, and how a client reaches it."""

    nginx: NginxUnderTest
    endpoint: Endpoint
    certificate: Path


@contextmanager
def site(root: Path, address: str, upstream: str) -> Iterator[Site]:
    """The project's site for MEET_HOST, rendered for ``upstream``, on ``address``:443, with
    the deploy's self-signed placeholder certificate."""
    nginx = NginxUnderTest.create(root / "nginx")
    proxy = ProxySettings(
        meet_host=MEET_HOST,
        web_upstream=upstream,
        acme_webroot=str(root / "acme"),
        tls_root=str(root / "tls"),
        http_listen=(f"{address}:80",),
        https_listen=(f"{address}:443",),
        http2_style=nginx.http2_style(),
    )
    make_webroot(proxy.acme_webroot)
    execute(placeholder_plan(proxy, parse_probe("")))
    nginx.install_site(render_site(proxy))
    nginx.start()
    try:
        certificate = Path(proxy.cert(MEET_HOST)[0])
        endpoint = Endpoint(f"https://{MEET_HOST}", f"{address}:443", str(certificate))
        yield Site(nginx, endpoint, certificate)
    finally:
        nginx.stop()
