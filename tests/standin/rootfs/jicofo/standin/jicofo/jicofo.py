"""The jicofo stand-in: a real XMPP client in the focus's place.

It logs in as focus@XMPP_AUTH_DOMAIN with JICOFO_AUTH_PASSWORD at XMPP_SERVER:XMPP_PORT (default
xmpp.meet.jitsi:5222) and joins the brewery JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN, as
jicofo.conf (jicofo/rootfs/defaults/jicofo.conf at stable-11146-2) sets the real one up. Its REST
server follows jicofo's own defaults (jicofo reference.conf and ktor/Application.kt at
stable/jitsi-meet_11146):
- it listens on 8888 at 127.0.0.1 unless JICOFO_ENABLE_REST is true (the template then sets
  rest.host = 0.0.0.0): a port published from the host answers nothing without it;
- /about/health exists only with health checks on (JICOFO_ENABLE_HEALTH_CHECKS), else 404. The
  check runs every 10 s, starting 10 s after start (healthy until then), and fails with 500
  while no bridge is operational and with 503 while the XMPP connection is down
  (JicofoHealthChecker);
- /stats carries bridge_selector.bridge_count and operational_bridge_count: the members of the
  brewery whose presence has the colibri stats extension (BridgeMucDetector);
- POST /conference-request/v1 {"room": JID} makes the focus create and join that room.

Fault flag `health` makes every HTTP answer a 500.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from xml.etree import ElementTree as ET

sys.path.insert(0, "/standin/lib")

from standin import (
    Refusal,
    check_heap,
    env,
    env_bool,
    log,
    refuse_and_exit,
    serve_http,
    setup_logging,
)
from standin_xmpp import COLIBRI_NS, Session, muc_status_codes, xmpp_servers

FOCUS_NICK = "focus"
HEALTH_INTERVAL = 10.0
JOIN_TIMEOUT = 10.0
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
    servers: list[tuple[str, int]]


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
        servers=xmpp_servers("5222"),
    )


class Focus(Session):
    def __init__(self, config: Settings, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(config.jid, config.password, config.servers[0])
        self.config = config
        self.loop = loop
        self.bridges: dict[str, dict[str, str]] = {}
        self.lost_bridges = 0
        self.conferences: set[str] = set()
        self.conferences_created = 0
        self.joining: dict[str, asyncio.Future[None]] = {}
        self.health = (200, "OK")

    # XMPP side

    def session_started(self) -> None:
        self.join(self.config.brewery, FOCUS_NICK)

    def session_ended(self) -> None:
        self.bridges.clear()
        self.conferences.clear()

    def presence_received(self, presence: ET.Element) -> None:
        room, _, nick = presence.get("from", "").partition("/")
        kind = presence.get("type", "")
        if room in self.joining and nick == FOCUS_NICK:
            waiting = self.joining.pop(room)
            if kind == "error":
                waiting.set_exception(RuntimeError(ET.tostring(presence, "unicode")))
            elif "110" in muc_status_codes(presence):
                waiting.set_result(None)
        elif room == self.config.brewery and nick != FOCUS_NICK:
            self._bridge_presence(nick, kind, presence)

    def _bridge_presence(self, nick: str, kind: str, presence: ET.Element) -> None:
        if kind == "unavailable":
            if self.bridges.pop(nick, None) is not None:
                self.lost_bridges += 1
                log.info("bridge %s left the brewery", nick)
            return
        stats = presence.find(f"{{{COLIBRI_NS}}}stats")
        if stats is None:
            return
        if nick not in self.bridges:
            log.info("bridge %s joined the brewery", nick)
        self.bridges[nick] = {
            stat.get("name", ""): stat.get("value", "")
            for stat in stats.iterfind(f"{{{COLIBRI_NS}}}stat")
        }

    async def create_conference(self, room: str) -> None:
        waiting = self.loop.create_future()
        self.joining[room] = waiting
        self.join(room, FOCUS_NICK)
        try:
            await asyncio.wait_for(waiting, JOIN_TIMEOUT)
        finally:
            self.joining.pop(room, None)
        if room not in self.conferences:
            self.conferences.add(room)
            self.conferences_created += 1

    async def check_health(self) -> None:
        """JicofoHealthChecker's verdict, recomputed every HEALTH_INTERVAL seconds."""
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            operational = len(self.bridges)
            if operational <= 0:
                self.health = (500, "No operational bridges available (total bridge count: 0)")
            elif not self.online:
                self.health = (503, "XMPP ping failed: not connected")
            else:
                self.health = (200, "OK")

    # REST side (called from the HTTP server's threads)

    def about_health(self, _request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        status, message = self.health
        return status, "text/plain", message

    def stats(self, _request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        bridges = list(self.bridges.values())
        body = {
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
        return 200, "application/json", json.dumps(body)

    def conference_request(self, request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        length = int(request.headers.get("Content-Length") or 0)
        try:
            room = json.loads(request.rfile.read(length))["room"]
            if not isinstance(room, str) or "@" not in room or "/" in room:
                raise ValueError(room)
        except (ValueError, KeyError, TypeError) as error:
            return 400, "text/plain", f"Invalid conference request: {error}\n"
        if not self.online:
            return 500, "text/plain", "XMPP connection is down\n"
        try:
            future = asyncio.run_coroutine_threadsafe(self.create_conference(room), self.loop)
            future.result(JOIN_TIMEOUT + 1)
        except Exception as error:  # the room refused the focus, or did not answer
            return 400, "text/plain", f"{error}\n"
        answer = {"room": room, "ready": True, "focusJid": self.config.jid}
        return 200, "application/json", json.dumps(answer)


async def run(config: Settings) -> None:
    focus = Focus(config, asyncio.get_running_loop())
    routes = {
        ("GET", "/stats"): focus.stats,
        ("POST", "/conference-request/v1"): focus.conference_request,
    }
    if config.health:
        routes[("GET", "/about/health")] = focus.about_health
    serve_http(config.rest_host, 8888, routes)
    await asyncio.gather(focus.keep_connected(), focus.check_health())


def main() -> None:
    setup_logging()
    try:
        config = settings()
        if "--check" in sys.argv:
            return
        check_heap("JICOFO_MAX_MEMORY")
    except Refusal as error:
        refuse_and_exit(error)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
