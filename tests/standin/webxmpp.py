"""XMPP the way the Jitsi web client speaks it: over the XMPP websocket (RFC 7395) and over BOSH
(XEP-0124/0206), anonymously, up to a MUC join.

slixmpp only speaks XMPP over TCP, so these two small clients do the same steps by hand: open
the stream, SASL ANONYMOUS, restart, bind, join the room, and wait for the room's own presence
(status 110) or its refusal.
"""

from __future__ import annotations

import asyncio
import itertools
import urllib.request
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from websockets.asyncio.client import connect

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
CLIENT = "jabber:client"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
HTTPBIND = "http://jabber.org/protocol/httpbind"
XBOSH = "urn:xmpp:xbosh"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Joined:
    """The outcome of a join: the session's JID and the room's answer to the join presence."""

    jid: str
    presence: ET.Element

    @property
    def accepted(self) -> bool:
        codes = {s.get("code") for s in self.presence.iter(f"{{{MUC_USER}}}status")}
        return self.presence.get("type") != "error" and "110" in codes


def _join_presence(room: str, nick: str) -> str:
    return f'<presence xmlns="{CLIENT}" to="{room}/{nick}"><x xmlns="{MUC}"/></presence>'


def _bind_iq() -> str:
    return f'<iq xmlns="{CLIENT}" type="set" id="bind"><bind xmlns="{BIND}"/></iq>'


def _answer_to_join(element: ET.Element, room: str, nick: str) -> bool:
    return element.tag == f"{{{CLIENT}}}presence" and element.get("from") == f"{room}/{nick}"


def _bound_jid(element: ET.Element) -> str | None:
    return element.findtext(f"{{{BIND}}}bind/{{{BIND}}}jid")


async def websocket_join(url: str, domain: str, room: str, nick: str) -> Joined:
    """Join `room` as `nick` through the XMPP websocket at `url` (ws://host:port/xmpp-websocket)."""
    async with connect(url, subprotocols=["xmpp"], open_timeout=TIMEOUT) as ws:

        async def expect(predicate) -> ET.Element:
            while True:
                frame = ET.fromstring(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if predicate(frame):
                    return frame

        def has_child(tag: str):
            return lambda frame: frame.find(f".//{tag}") is not None or frame.tag == tag

        opening = f'<open xmlns="{FRAMING}" to="{domain}" version="1.0"/>'
        await ws.send(opening)
        await expect(has_child(f"{{{SASL}}}mechanisms"))
        await ws.send(f'<auth xmlns="{SASL}" mechanism="ANONYMOUS"/>')
        success = await expect(lambda f: f.tag.startswith(f"{{{SASL}}}"))
        if success.tag != f"{{{SASL}}}success":
            raise RuntimeError(f"SASL ANONYMOUS refused: {ET.tostring(success, 'unicode')}")
        await ws.send(opening)
        await expect(has_child(f"{{{BIND}}}bind"))
        await ws.send(_bind_iq())
        jid = _bound_jid(await expect(lambda f: f.get("id") == "bind")) or ""
        await ws.send(_join_presence(room, nick))
        answer = await expect(lambda f: _answer_to_join(f, room, nick))
        await ws.send(f'<close xmlns="{FRAMING}"/>')
        return Joined(jid, answer)


class _BoshSession:
    def __init__(self, url: str, domain: str) -> None:
        self.url = url
        self.domain = domain
        self.rids = itertools.count(1000)
        self.sid = ""

    def post(self, *payload: str, **attributes: str) -> list[ET.Element]:
        attrs = {"rid": str(next(self.rids)), "xmlns": HTTPBIND, **attributes}
        if self.sid:
            attrs["sid"] = self.sid
        head = " ".join(f'{k}="{v}"' for k, v in attrs.items())
        body = f"<body {head}>{''.join(payload)}</body>".encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT + 5) as response:
            reply = ET.fromstring(response.read())
        if reply.get("type") == "terminate" and attributes.get("type") != "terminate":
            raise RuntimeError(f"BOSH session terminated: {reply.get('condition')}")
        self.sid = self.sid or reply.get("sid", "")
        return list(reply.iter())[1:]

    def until(self, predicate) -> ET.Element:
        """Poll (empty requests, which the server holds until it has something) for a match."""
        for _ in range(10):
            for element in self.post():
                if predicate(element):
                    return element
        raise TimeoutError("no matching answer over BOSH")

    def first(self, elements: list[ET.Element], predicate) -> ET.Element:
        """The first match in `elements`, else the first one polled for."""
        found = next((e for e in elements if predicate(e)), None)
        return self.until(predicate) if found is None else found


def bosh_join(url: str, domain: str, room: str, nick: str) -> Joined:
    """Join `room` as `nick` through the BOSH endpoint at `url` (http://host:port/http-bind)."""
    bosh = _BoshSession(url, domain)
    stream = {"to": domain, "xml:lang": "en", "xmlns:xmpp": XBOSH}
    features = bosh.post(
        **stream,
        content="text/xml; charset=utf-8",
        hold="1",
        wait=str(int(TIMEOUT)),
        ver="1.6",
        **{"xmpp:version": "1.0"},
    )
    bosh.first(features, lambda e: e.tag == f"{{{SASL}}}mechanisms")
    answer = bosh.first(
        bosh.post(f'<auth xmlns="{SASL}" mechanism="ANONYMOUS"/>'),
        lambda e: e.tag.startswith(f"{{{SASL}}}") and e.tag != f"{{{SASL}}}mechanism",
    )
    if answer.tag != f"{{{SASL}}}success":
        raise RuntimeError(f"SASL ANONYMOUS refused: {ET.tostring(answer, 'unicode')}")
    restarted = bosh.post(**stream, **{"xmpp:restart": "true"})
    bosh.first(restarted, lambda e: e.tag == f"{{{BIND}}}bind")
    bound = bosh.first(bosh.post(_bind_iq()), lambda e: e.get("id") == "bind")
    joined = bosh.first(
        bosh.post(_join_presence(room, nick)), lambda e: _answer_to_join(e, room, nick)
    )
    bosh.post(f'<presence xmlns="{CLIENT}" type="unavailable"/>', type="terminate")
    return Joined(_bound_jid(bound) or "", joined)
