"""The jicofo stand-in's XMPP side: the focus in the brewery, counting bridges, and creating
conference rooms on request."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from standin import log
from standin_xmpp import COLIBRI_NS, Session, muc_status_codes

if TYPE_CHECKING:
    from jicofo import Focus

FOCUS_NICK = "focus"
JOIN_TIMEOUT = 10.0


class FocusClient(Session):
    def __init__(self, focus: Focus) -> None:
        config = focus.config
        super().__init__(config.jid, config.password, config.server)
        self.focus = focus
        self.joining: dict[str, asyncio.Future[None]] = {}

    def session_started(self) -> None:
        self.focus.online = True
        self.join(self.focus.config.brewery, FOCUS_NICK)

    def session_ended(self) -> None:
        self.focus.online = False
        self.focus.bridges.clear()
        self.focus.conferences.clear()

    def presence_received(self, presence: ET.Element) -> None:
        room, _, nick = presence.get("from", "").partition("/")
        kind = presence.get("type", "")
        if room in self.joining and nick == FOCUS_NICK:
            waiting = self.joining.pop(room)
            if kind == "error":
                waiting.set_exception(RuntimeError(ET.tostring(presence, "unicode")))
            elif "110" in muc_status_codes(presence):
                waiting.set_result(None)
        elif room == self.focus.config.brewery and nick != FOCUS_NICK:
            self._bridge_presence(nick, kind, presence)

    def _bridge_presence(self, nick: str, kind: str, presence: ET.Element) -> None:
        bridges = self.focus.bridges
        if kind == "unavailable":
            if bridges.pop(nick, None) is not None:
                self.focus.lost_bridges += 1
                log.info("bridge %s left the brewery", nick)
            return
        stats = presence.find(f"{{{COLIBRI_NS}}}stats")
        if stats is None:
            return
        if nick not in bridges:
            log.info("bridge %s joined the brewery", nick)
        bridges[nick] = {
            stat.get("name", ""): stat.get("value", "")
            for stat in stats.iterfind(f"{{{COLIBRI_NS}}}stat")
        }

    async def create_conference(self, room: str) -> None:
        waiting = asyncio.get_running_loop().create_future()
        self.joining[room] = waiting
        self.join(room, FOCUS_NICK)
        try:
            await asyncio.wait_for(waiting, JOIN_TIMEOUT)
        finally:
            self.joining.pop(room, None)
        if room not in self.focus.conferences:
            self.focus.conferences.add(room)
            self.focus.conferences_created += 1


async def run_focus(focus: Focus) -> None:
    client = FocusClient(focus)
    focus.loop = asyncio.get_running_loop()
    focus.create_conference = client.create_conference
    await asyncio.gather(client.keep_connected(), focus.check_health())
