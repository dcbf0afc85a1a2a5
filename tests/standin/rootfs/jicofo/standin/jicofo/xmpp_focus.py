"""The jicofo stand-in's XMPP side: the focus in the brewery, counting bridges, and creating
conference rooms on request, over REST or by the conference IQ the web client sends to
focus.XMPP_DOMAIN (which Prosody's client_proxy component hands to the focus)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.exceptions import XMPPError
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath
from standin import log
from standin_xmpp import COLIBRI_NS, Session, muc_status_codes

if TYPE_CHECKING:
    from jicofo import Focus

FOCUS_NICK = "focus"
FOCUS_NS = "http://jitsi.org/protocol/focus"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
JOIN_TIMEOUT = 10.0


class FocusClient(Session):
    def __init__(self, focus: Focus) -> None:
        config = focus.config
        super().__init__(config.jid, config.password, config.server)
        self.focus = focus
        self.joining: dict[str, asyncio.Future[None]] = {}
        self.register_handler(
            CoroutineCallback(
                "conference request",
                MatchXPath(f"{{jabber:client}}iq/{{{FOCUS_NS}}}conference"),
                self._conference_iq,
            )
        )

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
                waiting.set_exception(RuntimeError(stanza_error(presence)))
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

    async def _conference_iq(self, iq: slixmpp.Iq) -> None:
        """jicofo's ConferenceIqHandler for a set: create the room (the focus joins it), then
        answer ready. An error raised here goes back as the IQ's error reply."""
        if iq["type"] in ("result", "error"):
            return
        if iq["type"] != "set":
            raise XMPPError("feature-not-implemented")
        room = iq.xml.find(f"{{{FOCUS_NS}}}conference").get("room")
        if not self.focus.valid_room(room):
            raise XMPPError("bad-request", "No 'room' specified.", "modify")
        try:
            await self.create_conference(room)
        except TimeoutError:
            text = f"{room} did not answer the focus in {JOIN_TIMEOUT:.0f} s"
            raise XMPPError("service-unavailable", text, "wait") from None
        except RuntimeError as error:
            raise XMPPError("not-allowed", f"{room} refused the focus: {error}") from None
        reply = iq.reply(clear=True)
        answer = ET.SubElement(
            reply.xml,
            f"{{{FOCUS_NS}}}conference",
            room=room,
            ready="true",
            focusjid=self.focus.config.jid,
        )
        ET.SubElement(answer, f"{{{FOCUS_NS}}}property", name="authentication", value="false")
        reply.send()

    async def create_conference(self, room: str) -> None:
        if room in self.focus.conferences:  # the focus is in it already (it never leaves)
            return
        waiting = self.joining.get(room)
        if waiting is None:  # a second request while the focus joins waits for the same join
            waiting = self.joining[room] = asyncio.get_running_loop().create_future()
            self.join(room, FOCUS_NICK)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), JOIN_TIMEOUT)
        finally:
            self.joining.pop(room, None)
        if room not in self.focus.conferences:
            self.focus.conferences.add(room)
            self.focus.conferences_created += 1


def stanza_error(stanza: ET.Element) -> str:
    """An error stanza's type/condition (text), e.g. auth/not-authorized."""
    error = stanza.find("{jabber:client}error")
    if error is None:
        return "error without details"
    names = [child.tag.partition("}")[2] for child in error]
    condition = next((name for name in names if name != "text"), "undefined-condition")
    text = error.findtext(f"{{{STANZAS_NS}}}text")
    return f"{error.get('type', '')}/{condition}" + (f" ({text})" if text else "")


async def run_focus(focus: Focus) -> None:
    client = FocusClient(focus)
    focus.loop = asyncio.get_running_loop()
    focus.create_conference = client.create_conference
    await asyncio.gather(client.keep_connected(), focus.check_health())
