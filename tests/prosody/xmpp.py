"""A real XMPP client (slixmpp) that joins rooms and configures them the way Jitsi's clients do.

Presences are read raw: a refused join comes back as an error presence without the muc <x>
child, which slixmpp's MUC plugin never reports.
"""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from .server import Prosody

MUC = "http://jabber.org/protocol/muc"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DATA_FORMS = "jabber:x:data"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MUC_DOMAIN = "muc.meet.jitsi"
BREAKOUT_DOMAIN = "breakout.meet.jitsi"
# The request of the breakout rooms stand-in (plugins/mod_breakout_link_standin.lua).
BREAKOUT_LINK = "urn:jitsi-deploy:test:breakout"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Refusal:
    """The error a server answered with: type, condition and optional text."""

    type: str
    condition: str
    text: str = ""


def room_jid(room: str) -> str:
    """A room of the main MUC by name, or any room by its JID."""
    return room if "@" in room else f"{room}@{MUC_DOMAIN}"


def unique(name: str) -> str:
    """A room name no other test uses on the same (shared) server."""
    return f"{name}{uuid.uuid4().hex[:8]}"


def _refusal(error: ET.Element | None) -> Refusal:
    if error is None:
        return Refusal("", "no <error> child")
    condition = next((child.tag.split("}")[1] for child in error if STANZAS in child.tag), "")
    text = error.findtext(f"{{{STANZAS}}}text") or ""
    return Refusal(error.get("type", ""), condition, text)


class Client:
    """One logged-in session: anonymous on meet.jitsi, or an account like focus@auth.meet.jitsi."""

    def __init__(self, server: Prosody, jid: str = "meet.jitsi", password: str = "") -> None:
        self.server = server
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        # The test servers have no certificates: plain TCP, and SCRAM without TLS.
        self.xmpp.enable_direct_tls = False
        self.xmpp.enable_starttls = False
        self.xmpp.enable_plaintext = True
        self.xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
        self.presences: asyncio.Queue[ET.Element] = asyncio.Queue()
        self._session: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.xmpp.register_handler(
            Callback("raw presence", MatchXPath("{jabber:client}presence"), self._on_presence)
        )
        self.xmpp.add_event_handler("session_start", self._on_session_start)
        self.xmpp.add_event_handler("failed_all_auth", self._on_failed_auth)

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        self.presences.put_nowait(presence.xml)

    def _on_session_start(self, _event: object) -> None:
        if not self._session.done():
            self._session.set_result(None)

    def _on_failed_auth(self, _event: object) -> None:
        if not self._session.done():
            self._session.set_exception(RuntimeError(f"login failed for {self.xmpp.boundjid}"))

    async def start(self) -> Client:
        self.xmpp.connect(self.server.address, self.server.port)
        await asyncio.wait_for(self._session, TIMEOUT)
        return self

    async def stop(self) -> None:
        await self.xmpp.disconnect()

    @property
    def bare_jid(self) -> str:
        return self.xmpp.boundjid.bare

    async def join(self, room: str, password: str | None = None) -> Refusal | None:
        """Joins as a Jitsi client does; None when joined, else the server's refusal."""
        nick = uuid.uuid4().hex[:8]
        presence = ET.Element("{jabber:client}presence", to=f"{room_jid(room)}/{nick}")
        muc_x = ET.SubElement(presence, f"{{{MUC}}}x")
        if password is not None:
            ET.SubElement(muc_x, f"{{{MUC}}}password").text = password
        self.xmpp.send_raw(ET.tostring(presence, encoding="unicode"))
        return await self._answer_to(nick)

    async def _answer_to(self, nick: str) -> Refusal | None:
        # Matched by the (unique) nick: the server answers from the room address it prepared,
        # lowercased and NFKC-normalised, which may differ from the one the join was sent to.
        async with asyncio.timeout(TIMEOUT):
            while True:
                presence = await self.presences.get()
                if not presence.get("from", "").endswith(f"/{nick}"):
                    continue
                if presence.get("type") == "error":
                    return _refusal(presence.find("{jabber:client}error"))
                return None

    async def _iq(self, iq_type: str, to: str, payload: ET.Element) -> ET.Element | Refusal:
        iq = self.xmpp.make_iq(ito=to, itype=iq_type)
        iq.append(payload)
        try:
            answer = await iq.send(timeout=TIMEOUT)
        except IqError as error:
            return _refusal(error.iq.xml.find("{jabber:client}error"))
        return answer.xml

    async def configure(self, room: str, fields: dict[str, str]) -> Refusal | None:
        """Submits the owner's room configuration form, as the web UI's lock/unlock does."""
        query = ET.Element(f"{{{MUC_OWNER}}}query")
        form = ET.SubElement(query, f"{{{DATA_FORMS}}}x", type="submit")
        all_fields = {"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig", **fields}
        for var, value in all_fields.items():
            field = ET.SubElement(form, f"{{{DATA_FORMS}}}field", var=var)
            ET.SubElement(field, f"{{{DATA_FORMS}}}value").text = value
        answer = await self._iq("set", room_jid(room), query)
        return answer if isinstance(answer, Refusal) else None

    async def make_owner(self, room: str, bare_jid: str) -> None:
        """Grants owner rights, as focus does for the moderators it picks."""
        query = ET.Element(f"{{{MUC_ADMIN}}}query")
        ET.SubElement(query, f"{{{MUC_ADMIN}}}item", affiliation="owner", jid=bare_jid)
        answer = await self._iq("set", room_jid(room), query)
        assert not isinstance(answer, Refusal), answer

    async def create_breakout_room(self, room: str) -> str:
        """The JID of a new breakout room of ``room``, which the server links to it, as a
        moderator's "add breakout room" makes one."""
        answer = await self._iq("set", room_jid(room), ET.Element(f"{{{BREAKOUT_LINK}}}create"))
        assert not isinstance(answer, Refusal), answer
        created = answer.find(f"{{{BREAKOUT_LINK}}}created")
        assert created is not None, ET.tostring(answer)
        return created.get("jid", "")

    async def features(self, room: str) -> set[str]:
        answer = await self._iq("get", room_jid(room), ET.Element(f"{{{DISCO_INFO}}}query"))
        assert not isinstance(answer, Refusal), answer
        return {feature.get("var", "") for feature in answer.iter(f"{{{DISCO_INFO}}}feature")}


class Sessions:
    """Starts clients on one server and logs them all out at the end of a scenario."""

    def __init__(self, server: Prosody) -> None:
        self.server = server
        self._started: list[Client] = []

    async def user(self) -> Client:
        """An anonymous web-client user."""
        return await self.account("meet.jitsi", "")

    async def account(self, jid: str, password: str) -> Client:
        client = await Client(self.server, jid, password).start()
        self._started.append(client)
        return client

    async def close(self) -> None:
        await asyncio.gather(*(client.stop() for client in self._started))


def run(server: Prosody, scenario: Callable[[Sessions], Awaitable[None]]) -> None:
    async def main() -> None:
        sessions = Sessions(server)
        try:
            await scenario(sessions)
        finally:
            await sessions.close()

    asyncio.run(main())
