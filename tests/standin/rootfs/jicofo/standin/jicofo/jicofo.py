"""The jicofo stand-in: a real XMPP client in the focus's place (XMPP side in xmpp_focus.py).

It logs in as focus@XMPP_AUTH_DOMAIN with JICOFO_AUTH_PASSWORD at XMPP_SERVER:XMPP_PORT (default
xmpp.meet.jitsi:5222) and joins the brewery JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN, as
jicofo.conf (jicofo/rootfs/defaults/jicofo.conf at stable-11146-2) sets the real one up. Its REST
server follows jicofo's own defaults (jicofo reference.conf and ktor/Application.kt at
stable/jitsi-meet_11146):
- it listens on 8888 at 127.0.0.1 unless JICOFO_ENABLE_REST is true (the template then sets
  rest.host = 0.0.0.0): a port published from the host answers nothing without it;
- /about/health exists only with health checks on (JICOFO_ENABLE_HEALTH_CHECKS), else 404. The
  check runs every 10 s, starting 10 s after start (healthy until then), and fails with 503 while
  the XMPP connection is down (JicofoHealthChecker's ping), with 500 while it is up but no bridge
  is operational (its hard failure: a monitor keyed on jicofo's health would restart jicofo
  for a bridge problem);
- /stats carries bridge_selector.bridge_count and operational_bridge_count: the members of the
  brewery whose presence has the colibri stats extension (BridgeMucDetector);
- POST /conference-request/v1 {"room": JID} makes the focus create and join that room; so does
  the web client's conference IQ (xmpp_focus.py).
- /debug (rest.debug.enabled, on by default; JicofoServices.getDebugState) has
  bridge_selector.bridge: each bridge by its brewery JID (room/nickname) with the flags of its
  last presence's stats (Bridge.debugState: drain, graceful-shutdown, operational, …).

`jicofo.py --check` is the config step's check of the variables jicofo.conf reads; without it,
the focus runs. Fault flag `health` makes every HTTP answer a 500.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, "/standin/lib")

from standin import (
    Refusal,
    check_heap,
    compact_json,
    env,
    env_bool,
    exit_on_sigterm,
    refuse_and_exit,
    serve_http,
    setup_logging,
)

HEALTH_INTERVAL = 10.0
# A conference request waits this long for the room (the focus waits 10 s for its join).
REQUEST_TIMEOUT = 11.0
# The booleans jicofo.conf always passes through toBool, with their defaults, and those it reads
# only when they are set.
BOOLEANS = {
    "ENABLE_AUTH": "0",
    "ENABLE_AUTO_LOGIN": "1",
    "ENABLE_JVB_XMPP_SERVER": "0",
    "ENABLE_OCTO": "0",
    "ENABLE_RECORDING": "0",
    "ENABLE_SHARED_DOCUMENT_RANDOM_NAME": "0",
    "ENABLE_TRANSCRIPTIONS": "0",
    "ENABLE_VISITORS": "0",
    "ENABLE_VLA": "0",
    "JICOFO_ENABLE_MID": "0",
    "JICOFO_ENABLE_REST": "0",
    "JICOFO_HEALTH_CHECKS_USE_PRESENCE": "0",
}
BOOLEANS_IF_SET = (
    "ENABLE_AUTO_OWNER",
    "ENABLE_CODEC_AV1",
    "ENABLE_CODEC_H264",
    "ENABLE_CODEC_OPUS_RED",
    "ENABLE_CODEC_VP8",
    "ENABLE_CODEC_VP9",
    "ENABLE_MODERATOR_CHECKS",
    "JICOFO_CONF_SSRC_REWRITING",
    "JICOFO_CONF_STRIP_SIMULCAST",
    "JICOFO_ENABLE_AUTH",
    "JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS",
    "JICOFO_ENABLE_HEALTH_CHECKS",
    "JICOFO_ENABLE_ICE_FAILURE_DETECTION",
    "JICOFO_ENABLE_LOAD_REDISTRIBUTION",
    "JICOFO_MULTI_STREAM_BACKWARD_COMPAT",
)


@dataclass(frozen=True)
class Settings:
    jid: str
    password: str
    brewery: str
    rest_host: str
    health: bool
    server: tuple[str, int]


def settings() -> Settings:
    flags = {name: env_bool(name, default) for name, default in BOOLEANS.items()}
    flags |= {name: env_bool(name, "0") for name in BOOLEANS_IF_SET if env(name)}
    if flags["ENABLE_JVB_XMPP_SERVER"]:
        raise Refusal("the stand-in does not implement ENABLE_JVB_XMPP_SERVER (a brewery server)")
    if flags["ENABLE_VISITORS"]:
        raise Refusal("the stand-in does not implement ENABLE_VISITORS")
    muc = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    return Settings(
        jid=f"focus@{env('XMPP_AUTH_DOMAIN', 'auth.meet.jitsi')}",
        password=env("JICOFO_AUTH_PASSWORD"),
        brewery=f"{env('JVB_BREWERY_MUC', 'jvbbrewery')}@{muc}",
        rest_host="0.0.0.0" if flags["JICOFO_ENABLE_REST"] else "127.0.0.1",
        health=flags.get("JICOFO_ENABLE_HEALTH_CHECKS", False),
        # jicofo.conf takes XMPP_SERVER as one host name (no list, unlike jvb.conf).
        server=(env("XMPP_SERVER", "xmpp.meet.jitsi"), int(env("XMPP_PORT", "5222"))),
    )


class Focus:
    """What the focus knows, filled in by its XMPP side, and its REST answers (which run in the
    HTTP server's threads)."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self.bridges: dict[str, dict[str, str]] = {}
        self.lost_bridges = 0
        self.conferences: set[str] = set()
        self.conferences_created = 0
        self.health = (200, "OK")
        self.online = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.create_conference: Callable[[str], Awaitable[None]] | None = None

    async def check_health(self) -> None:
        """JicofoHealthChecker's checks, recomputed every HEALTH_INTERVAL seconds: the XMPP
        ping, then at least one operational bridge."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            if not self.online:
                self.health = (503, "XMPP ping failed: not connected")
            elif not self.bridges:
                self.health = (500, "No operational bridges available")
            else:
                self.health = (200, "OK")

    def about_health(self, _request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        status, message = self.health
        return status, "text/plain", message

    def stats(self, _request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        bridges = list(self.bridges.values())
        body: dict[str, object] = {
            "conferences": len(self.conferences),
            "total_conferences_created": self.conferences_created,
            "participants": 0,
            "bridge_selector": {
                "bridge_count": len(bridges),
                "operational_bridge_count": len(bridges),
                "in_shutdown_bridge_count": sum(
                    b.get("graceful_shutdown") == "true" for b in bridges
                ),
                "lost_bridges": self.lost_bridges,
                "bridge_version_count": len({b.get("version") for b in bridges}),
            },
            "version": "stand-in",
        }
        if self.config.health:
            body["healthy"] = self.health[0] == 200
        return 200, "application/json", compact_json(body)

    def debug(self, _request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        bridges = {
            f"{self.config.brewery}/{nickname}": {
                "drain": stats.get("drain") == "true",
                "graceful-shutdown": stats.get("graceful_shutdown") == "true",
                "healthy": stats.get("healthy", "true") == "true",
                "operational": True,
                "version": stats.get("version", ""),
            }
            for nickname, stats in self.bridges.items()
        }
        body = {
            "focus_manager": {"conferences": len(self.conferences)},
            "bridge_selector": {"strategy": "SingleBridgeSelectionStrategy", "bridge": bridges},
        }
        return 200, "application/json", compact_json(body)

    @staticmethod
    def valid_room(room: object) -> bool:
        """Whether a conference request names a room by its bare JID (REST and IQ alike)."""
        return isinstance(room, str) and "@" in room and "/" not in room

    def conference_request(self, request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        length = int(request.headers.get("Content-Length") or 0)
        try:
            room = json.loads(request.rfile.read(length))["room"]
            if not self.valid_room(room):
                raise ValueError(room)
        except (ValueError, KeyError, TypeError) as error:
            return 400, "text/plain", f"Invalid conference request: {error}\n"
        if not self.online or self.loop is None or self.create_conference is None:
            return 500, "text/plain", "XMPP connection is down\n"
        try:
            coroutine = self.create_conference(room)
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
            future.result(REQUEST_TIMEOUT)
        except Exception as error:  # the room refused the focus, or did not answer
            return 400, "text/plain", f"{error}\n"
        answer = {"room": room, "ready": True, "focusJid": self.config.jid}
        return 200, "application/json", compact_json(answer)


def main() -> None:
    setup_logging()
    exit_on_sigterm()
    try:
        config = settings()
        if "--check" in sys.argv:
            return
        check_heap("JICOFO_MAX_MEMORY")
    except Refusal as error:
        refuse_and_exit(error)
    focus = Focus(config)
    routes = {
        ("GET", "/stats"): focus.stats,
        ("GET", "/debug"): focus.debug,
        ("POST", "/conference-request/v1"): focus.conference_request,
    }
    if config.health:
        routes[("GET", "/about/health")] = focus.about_health
    serve_http(config.rest_host, 8888, routes)
    from xmpp_focus import run_focus  # slixmpp takes a third of a second to load: REST first

    asyncio.run(run_focus(focus))


if __name__ == "__main__":
    main()
