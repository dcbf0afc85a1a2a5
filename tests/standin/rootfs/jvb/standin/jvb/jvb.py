"""The jvb stand-in: a real XMPP client in the bridge's place.

It logs in the way jvb.conf (jvb/rootfs/defaults/jvb.conf at stable-11146-2) configures the real
bridge: user JVB_AUTH_USER (jvb) on XMPP_AUTH_DOMAIN (auth.meet.jitsi) with JVB_AUTH_PASSWORD, at
each XMPP_SERVER (default xmpp.meet.jitsi) on XMPP_PORT (5222), and joins the brewery
JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN as JVB_MUC_NICKNAME (default: the container's hostname),
announcing itself with the colibri stats extension jicofo looks for. /about/health on 8080
(all interfaces, as the bridge's private HTTP server) stays green while the XMPP session is
lost: the real bridge's known trap.

Fault flags: `health` makes every HTTP answer a 500; `xmpp-lost` drops the XMPP sessions and
keeps them down while the flag exists.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from xml.etree import ElementTree as ET

sys.path.insert(0, "/standin/lib")

from standin import (
    Refusal,
    check_heap,
    env,
    env_bool,
    fault,
    log,
    refuse_and_exit,
    serve_http,
    setup_logging,
)
from standin_xmpp import COLIBRI_NS, POLL_SECONDS, Session, xmpp_servers

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


def settings() -> Settings:
    flags = {name: env_bool(name, default) for name, default in BOOLEANS.items()}
    if flags["ENABLE_JVB_XMPP_SERVER"]:
        raise Refusal("the stand-in does not implement ENABLE_JVB_XMPP_SERVER (a brewery server)")
    domain = env("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    muc = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    return Settings(
        xmpp=not flags["JVB_DISABLE_XMPP"],
        jid=f"{env('JVB_AUTH_USER', 'jvb')}@{domain}",
        password=env("JVB_AUTH_PASSWORD"),
        brewery=f"{env('JVB_BREWERY_MUC', 'jvbbrewery')}@{muc}",
        nickname=env("JVB_MUC_NICKNAME", env("HOSTNAME")),
        servers=xmpp_servers("5222"),
    )


def colibri_stats() -> ET.Element:
    """What jicofo's BridgeMucDetector needs in a brewery presence: the stats extension."""
    stats = ET.Element(f"{{{COLIBRI_NS}}}stats")
    for name, value in (("stress_level", "0.0"), ("healthy", "true"), ("version", "stand-in")):
        ET.SubElement(stats, f"{{{COLIBRI_NS}}}stat", name=name, value=value)
    return stats


class Bridge(Session):
    def __init__(self, config: Settings, address: tuple[str, int]) -> None:
        super().__init__(config.jid, config.password, address)
        self.config = config

    def session_started(self) -> None:
        self.join(self.config.brewery, self.config.nickname, colibri_stats())
        log.info("joining %s as %s", self.config.brewery, self.config.nickname)

    def presence_received(self, presence: ET.Element) -> None:
        if presence.get("type") == "error" and presence.get("from", "").startswith(
            self.config.brewery
        ):
            log.error("the brewery refused the bridge: %s", ET.tostring(presence, "unicode"))

    async def drop_on_fault(self) -> None:
        """The `xmpp-lost` fault: the TCP connection goes away without a goodbye."""
        while True:
            if self.online and fault("xmpp-lost"):
                log.warning("fault xmpp-lost: dropping the XMPP connection")
                self.abort()
            await asyncio.sleep(POLL_SECONDS)


async def run(config: Settings) -> None:
    serve_http("0.0.0.0", 8080, {("GET", "/about/health"): lambda _: (200, "application/json", "")})
    if not config.xmpp:
        await asyncio.Event().wait()
    bridges = [Bridge(config, address) for address in config.servers]
    tasks = [bridge.drop_on_fault() for bridge in bridges]
    tasks += [bridge.keep_connected(lambda: fault("xmpp-lost")) for bridge in bridges]
    await asyncio.gather(*tasks)


def main() -> None:
    setup_logging()
    try:
        config = settings()
        if "--check" in sys.argv:
            return
        check_heap("VIDEOBRIDGE_MAX_MEMORY")
    except Refusal as error:
        refuse_and_exit(error)
    asyncio.run(run(config))


if __name__ == "__main__":
    main()
