"""The jvb stand-in: a real XMPP client in the bridge's place (XMPP side in xmpp_bridge.py).

It logs in the way jvb.conf (jvb/rootfs/defaults/jvb.conf at stable-11146-2) configures the real
bridge: user JVB_AUTH_USER (jvb) on XMPP_AUTH_DOMAIN (auth.meet.jitsi) with JVB_AUTH_PASSWORD, at
each XMPP_SERVER (default xmpp.meet.jitsi) on XMPP_PORT (5222), and joins the brewery
JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN as JVB_MUC_NICKNAME (default: the container's hostname).
The login checks the server's certificate only where custom-jvb.conf turns the image's
verification back on, against the truststore JAVA_TOOL_OPTIONS names (trust.py).
/about/health on 8080 (all interfaces, as the bridge's private HTTP server) stays green while the
XMPP session is lost: the real bridge's known trap.

Drain and conferences, as jitsi-videobridge at stable/jitsi-meet_11146 serves them on 8080:
- POST /colibri/drain/enable and /disable, GET /colibri/drain ({"drain": …}): the drain API,
  on by default (reference.conf `videobridge.rest.drain.enabled = true`, not set by jvb.conf);
  a draining bridge takes no new conferences and keeps the ones it has (Drain.java).
- GET /metrics, Prometheus text: `jitsi_jvb_conferences` and `jitsi_jvb_drain_mode`
  (VideobridgeMetrics.kt, namespace jitsi_jvb). The real handler splits the Accept header
  without a null check (Prometheus.java): a request without one gets a 500.
- /colibri/stats needs the COLIBRI REST API (COLIBRI_REST_ENABLED, off by default): without it
  the stand-in answers 404 as the real one does, so nothing may rely on it.
The stand-in has no media: it hosts as many conferences as /tmp/conferences says (a test's
stand-in for what jicofo allocated on it), 0 without the file.

`jvb.py --check` is the config step's check of the variables jvb.conf reads; without it, the
bridge runs. Fault flags: `health` makes every HTTP answer a 500; `xmpp-lost` closes the XMPP
sessions and keeps them closed while the flag exists. Like the real bridge (no shutdown hook),
it stops on SIGTERM without closing its sessions.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, "/standin/lib")

from standin import (
    Refusal,
    Route,
    check_heap,
    compact_json,
    env,
    env_bool,
    exit_on_sigterm,
    log,
    refuse_and_exit,
    serve_http,
    setup_logging,
    xmpp_servers,
)
from trust import trust_context, verified_shards

CONFERENCES_FILE = "/tmp/conferences"
# The booleans jvb.conf passes through toBool, with their defaults.
BOOLEANS = {
    "COLIBRI_REST_ENABLED": "false",
    "DISABLE_AWS_HARVESTER": "true",
    "ENABLE_JVB_XMPP_SERVER": "0",
    "ENABLE_OCTO": "0",
    "ENABLE_VLA": "0",
    "JVB_ADVERTISE_PRIVATE_CANDIDATES": "true",
    "JVB_CC_TRUST_BWE": "true",
    "JVB_DISABLE_STUN": "0",
    "JVB_DISABLE_XMPP": "0",
    "JVB_REQUIRE_VALID_ADDRESS": "0",
    "JVB_USE_USRSCTP": "false",
    "SHUTDOWN_REST_ENABLED": "false",
}


@dataclass(frozen=True)
class Settings:
    xmpp: bool
    jid: str
    password: str
    brewery: str
    nickname: str
    servers: list[tuple[str, int]]
    # Per server: the trust its login verifies the certificate with, None for none (trust.py).
    trust: list[ssl.SSLContext | None]


def settings() -> Settings:
    flags = {name: env_bool(name, default) for name, default in BOOLEANS.items()}
    if flags["ENABLE_JVB_XMPP_SERVER"]:
        raise Refusal("the stand-in does not implement ENABLE_JVB_XMPP_SERVER (a brewery server)")
    domain = env("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    muc = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    servers = xmpp_servers()
    verified = verified_shards()
    context = trust_context(env("JAVA_TOOL_OPTIONS")) if verified else None
    return Settings(
        xmpp=not flags["JVB_DISABLE_XMPP"],
        jid=f"{env('JVB_AUTH_USER', 'jvb')}@{domain}",
        password=env("JVB_AUTH_PASSWORD"),
        brewery=f"{env('JVB_BREWERY_MUC', 'jvbbrewery')}@{muc}",
        nickname=env("JVB_MUC_NICKNAME", env("HOSTNAME")),
        servers=servers,
        trust=[context if shard in verified else None for shard in range(len(servers))],
    )


class Rest:
    """The bridge's private REST server: health, drain, metrics (and stats with COLIBRI)."""

    def __init__(self, colibri: bool) -> None:
        self.colibri = colibri
        self.drain = False
        self.drain_changed: Callable[[], None] = lambda: None

    def on_drain(self, call: Callable[[], None]) -> None:
        self.drain_changed = call

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/about/health"): lambda _: (200, "application/json", ""),
            ("POST", "/colibri/drain/enable"): lambda _: self.set_drain(True),
            ("POST", "/colibri/drain/disable"): lambda _: self.set_drain(False),
            ("GET", "/colibri/drain"): lambda _: self.json({"drain": self.drain}),
            ("GET", "/metrics"): self.metrics,
        }
        if self.colibri:
            routes[("GET", "/colibri/stats")] = lambda _: self.json(self.stats())
        return routes

    def set_drain(self, enable: bool) -> tuple[int, str, str]:
        self.drain = enable
        log.info("drain mode %s", "on" if enable else "off")
        self.drain_changed()
        return 200, "text/plain", ""

    def stats(self) -> dict[str, object]:
        return {"conferences": conferences(), "drain": self.drain}

    @staticmethod
    def json(value: dict[str, object]) -> tuple[int, str, str]:
        return 200, "application/json", compact_json(value)

    def metrics(self, request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        if request.headers.get("Accept") is None:
            return 500, "text/plain", "java.lang.NullPointerException\n"
        lines = [
            "# HELP jitsi_jvb_conferences Current number of conferences.",
            "# TYPE jitsi_jvb_conferences gauge",
            f"jitsi_jvb_conferences {float(conferences())}",
            "# HELP jitsi_jvb_drain_mode Whether the bridge is in drain shutdown mode.",
            "# TYPE jitsi_jvb_drain_mode gauge",
            f"jitsi_jvb_drain_mode {1.0 if self.drain else 0.0}",
        ]
        return 200, "text/plain; version=0.0.4; charset=utf-8", "\n".join(lines) + "\n"


def conferences() -> int:
    try:
        return int(Path(CONFERENCES_FILE).read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def main() -> None:
    setup_logging()
    exit_on_sigterm()
    try:
        config = settings()
        if "--check" in sys.argv:
            return
        check_heap("VIDEOBRIDGE_MAX_MEMORY")
    except Refusal as error:
        refuse_and_exit(error)
    rest = Rest(colibri=env_bool("COLIBRI_REST_ENABLED", "false"))
    serve_http("0.0.0.0", 8080, rest.routes())
    if not config.xmpp:
        asyncio.run(asyncio.Event().wait())
    from xmpp_bridge import run_bridges  # slixmpp takes a third of a second to load: REST first

    session = (config.jid, config.password, config.brewery, config.nickname)
    session += (config.servers, config.trust)
    asyncio.run(run_bridges(*session, lambda: rest.drain, rest.on_drain))


if __name__ == "__main__":
    main()
