"""The jvb stand-in's XMPP side: one session per XMPP server, each in the brewery as the bridge."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from xml.etree import ElementTree as ET

from standin import fault, log
from standin_xmpp import COLIBRI_NS, POLL_SECONDS, Session


def colibri_stats(drain: bool) -> ET.Element:
    """What jicofo's BridgeMucDetector needs in a brewery presence: the stats extension, with
    the drain flag jicofo's bridge selection honours."""
    stats = ET.Element(f"{{{COLIBRI_NS}}}stats")
    values = {"stress_level": "0.0", "healthy": "true", "version": "stand-in"}
    values["drain"] = "true" if drain else "false"
    for name, value in values.items():
        ET.SubElement(stats, f"{{{COLIBRI_NS}}}stat", name=name, value=value)
    return stats


class Bridge(Session):
    def __init__(
        self,
        jid: str,
        password: str,
        address: tuple[str, int],
        brewery: str,
        nickname: str,
        draining: Callable[[], bool],
        trust: ssl.SSLContext | None,
    ) -> None:
        super().__init__(jid, password, address, trust)
        self.brewery = brewery
        self.nickname = nickname
        self.draining = draining

    def session_started(self) -> None:
        self.announce()
        log.info("joining %s as %s", self.brewery, self.nickname)

    def announce(self) -> None:
        """Presence in the brewery with the current stats, as the bridge sends on a change."""
        self.join(self.brewery, self.nickname, colibri_stats(self.draining()))

    def presence_received(self, presence: ET.Element) -> None:
        if presence.get("type") == "error" and presence.get("from", "").startswith(self.brewery):
            log.error("the brewery refused the bridge: %s", ET.tostring(presence, "unicode"))

    async def leave_on_fault(self) -> None:
        """The `xmpp-lost` fault: the bridge closes its XMPP stream, so it leaves the brewery at
        once (a connection that just breaks would be kept 15 s by stream management)."""
        while True:
            if self.online and fault("xmpp-lost"):
                log.warning("fault xmpp-lost: closing the XMPP session")
                await self.disconnect(wait=2)
            await asyncio.sleep(POLL_SECONDS)


async def run_bridges(
    jid: str,
    password: str,
    brewery: str,
    nickname: str,
    servers: list[tuple[str, int]],
    trust: list[ssl.SSLContext | None],
    draining: Callable[[], bool],
    on_drain: Callable[[Callable[[], None]], None],
) -> None:
    """One session per server (``trust``: how each verifies its certificate); ``on_drain``
    registers what the REST thread calls when drain mode changes: a new presence from each
    session that is up."""
    bridges = [
        Bridge(jid, password, address, brewery, nickname, draining, verify)
        for address, verify in zip(servers, trust, strict=True)
    ]
    loop = asyncio.get_running_loop()

    def announce_all() -> None:
        for bridge in bridges:
            if bridge.online:
                bridge.announce()

    on_drain(lambda: loop.call_soon_threadsafe(announce_all))
    tasks = [bridge.leave_on_fault() for bridge in bridges]
    tasks += [bridge.keep_connected(lambda: fault("xmpp-lost")) for bridge in bridges]
    await asyncio.gather(*tasks)
