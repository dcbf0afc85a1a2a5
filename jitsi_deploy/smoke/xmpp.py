"""A minimal anonymous XMPP client over BOSH and over the websocket, as the Jitsi web page speaks.

Only what the smoke checks need: open a stream to the XMPP domain, log in with SASL ANONYMOUS,
bind a resource, ask focus for a room and join it with an optional password, and read the
answer. Both transports read whole stanzas as XML elements, so the session logic is shared.
"""

from __future__ import annotations

import itertools
import random
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

XMPP_DOMAIN = "meet.jitsi"
GUEST_DOMAIN = "guest.meet.jitsi"  # where guests log in when ENABLE_AUTH=1 and ENABLE_GUESTS=1
MUC_DOMAIN = "muc.meet.jitsi"
FOCUS_DOMAIN = "focus.meet.jitsi"
TIMEOUT = 10.0

CLIENT = "jabber:client"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
HTTPBIND = "http://jabber.org/protocol/httpbind"
XBOSH = "urn:xmpp:xbosh"
MUC = "http://jabber.org/protocol/muc"
FOCUS = "http://jitsi.org/protocol/focus"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
# External service discovery (XEP-0215): Prosody's mod_external_services answers both versions.
EXTDISCO = "urn:xmpp:extdisco:2"
EXTDISCO_OLD = "urn:xmpp:extdisco:1"
FEATURES = "{http://etherx.jabber.org/streams}features"


class XmppError(Exception):
    """The exchange broke off: the message says at which step and what came back."""


@dataclass(frozen=True)
class Endpoint:
    """Where the site is and how to trust it.

    + public_url: the site as users type it (https://meet.example.org).
    + connect_to: "address:port" to connect to instead of what DNS says (like curl --resolve);
      TLS names and the Host header stay those of the public URL.
    + verify: a CA file, True for the system's CAs, or False (the certificate was judged by the
      TLS check already and the user accepted a self-signed one).
    + domain: the XMPP domain the stream is opened to.
    + token: a signed token (AUTH_TYPE=jwt) sent as the page sends it, on the BOSH and websocket
      URLs; never in a message, as it lets its holder in.
    """

    public_url: str
    connect_to: str = ""
    verify: str | bool = True
    domain: str = XMPP_DOMAIN
    token: str = ""

    @property
    def name(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.public_url).port or 443

    def address(self) -> tuple[str, int]:
        if not self.connect_to:
            return self.name, self.port
        host, _, port = self.connect_to.rpartition(":")
        return host.strip("[]"), int(port)

    def ssl_context(self) -> ssl.SSLContext:
        if self.verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        cafile = self.verify if isinstance(self.verify, str) else None
        return ssl.create_default_context(cafile=cafile)

    def url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    def query(self) -> dict[str, str]:
        """What the page adds to the BOSH and websocket URLs."""
        return {"token": self.token} if self.token else {}

    def hidden(self, error: Exception) -> str:
        """An error's text without the token, which a library may quote with the URL."""
        return str(error).replace(self.token, "<token>") if self.token else str(error)

    def http(self) -> requests.Session:
        """A requests session whose connections go to ``connect_to`` when set."""
        session = requests.Session()
        session.verify = self.verify
        # requests lets REQUESTS_CA_BUNDLE from the environment win over a session's CA file.
        session.trust_env = self.verify is True
        if self.verify is False:  # the TLS check already said the certificate is self-signed
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if self.connect_to:
            session.mount("https://", _Pinned(self))
        return session


class _Pinned(HTTPAdapter):
    """Sends requests for the site's URL to another address, keeping SNI, the certificate's
    expected name and the Host header: smoke-test a server before (or apart from) DNS."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["server_hostname"] = self.endpoint.name
        if self.endpoint.verify is not False:
            kwargs["assert_hostname"] = self.endpoint.name
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        parts = urlsplit(request.url or "")
        host, port = self.endpoint.address()
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request.url = parts._replace(netloc=netloc).geturl()
        request.headers["Host"] = parts.netloc
        return super().send(request, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Refusal:
    """An error stanza's type, condition and text, e.g. auth / not-authorized."""

    type: str
    condition: str
    text: str = ""

    def __str__(self) -> str:
        text = f" ({self.text})" if self.text else ""
        return f"{self.type}/{self.condition}{text}"


@dataclass(frozen=True)
class ExternalService:
    """A STUN or TURN server the site hands its users (one XEP-0215 <service/>).

    With a shared secret (coturn's use-auth-secret), ``username`` is the expiry time in Unix
    seconds and ``password`` the base64 HMAC-SHA1 of it: both stop working at ``expires``.
    ``port`` is None when the server named none.
    """

    type: str
    host: str
    port: int | None
    transport: str
    username: str = ""
    password: str = ""
    expires: datetime | None = None
    restricted: bool = False


def external_services(answer: ET.Element, namespace: str = EXTDISCO) -> list[ExternalService]:
    """The services in an extdisco <iq type="result"/> (its <services/> echoes the namespace
    asked in)."""
    found = answer.find(f"{{{namespace}}}services")
    if found is None:
        raise XmppError(f"the external services answer has no <services xmlns='{namespace}'/>")
    return [_external_service(item) for item in found.findall(f"{{{namespace}}}service")]


def _external_service(item: ET.Element) -> ExternalService:
    port, expires = item.get("port"), item.get("expires")
    try:
        return ExternalService(
            type=item.get("type", ""),
            host=item.get("host", ""),
            port=int(port) if port else None,
            transport=item.get("transport", ""),
            username=item.get("username", ""),
            password=item.get("password", ""),
            # XEP-0082 time; "Z" is spelled out for Pythons before 3.11.
            expires=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
            restricted=item.get("restricted") in ("1", "true"),
        )
    except ValueError:
        raise XmppError(f"unreadable external service: {ET.tostring(item)[:200]!r}") from None


class Transport(Protocol):
    """One XMPP connection that sends stanzas and yields the elements that arrive."""

    def open_stream(self) -> list[ET.Element]: ...

    def send(self, stanza: ET.Element) -> list[ET.Element]: ...

    def receive(self) -> list[ET.Element]: ...

    def close(self) -> None: ...


class Bosh:
    """XMPP over BOSH (XEP-0124/0206): each request carries stanzas and returns those waiting."""

    def __init__(self, endpoint: Endpoint, wait: int = 5) -> None:
        self.http = endpoint.http()
        self.url = endpoint.url("/http-bind")
        self.query = endpoint.query()
        self.hidden = endpoint.hidden
        self.domain = endpoint.domain
        self.rid = itertools.count(random.randint(1 << 20, 1 << 30))
        self.sid = ""
        self.wait = wait

    def _post(self, children: list[ET.Element], **attributes: str) -> ET.Element:
        body = ET.Element(f"{{{HTTPBIND}}}body", rid=str(next(self.rid)), **attributes)
        if self.sid:
            body.set("sid", self.sid)
        body.extend(children)
        try:
            answer = self.http.post(
                self.url,
                params=self.query,
                data=ET.tostring(body),
                headers={"Content-Type": "text/xml; charset=utf-8"},
                timeout=self.wait + TIMEOUT,
            )
        except requests.RequestException as error:
            raise XmppError(f"POST {self.url} failed: {self.hidden(error)}") from None
        if answer.status_code != 200:
            raise XmppError(f"POST {self.url} answered HTTP {answer.status_code}")
        reply = _parse(answer.content, "the BOSH reply")
        if reply.tag != f"{{{HTTPBIND}}}body":
            raise XmppError(f"POST {self.url} answered no BOSH body: {answer.text[:200]!r}")
        if reply.get("type") == "terminate":
            raise XmppError(f"the server ended the BOSH session ({reply.get('condition')})")
        return reply

    def open_stream(self) -> list[ET.Element]:
        if self.sid:  # after login: a stream restart within the session
            return list(self._post([], to=self.domain, **{f"{{{XBOSH}}}restart": "true"}))
        reply = self._post(
            [],
            to=self.domain,
            hold="1",
            wait=str(self.wait),
            ver="1.6",
            content="text/xml; charset=utf-8",
            **{f"{{{XBOSH}}}version": "1.0"},
        )
        self.sid = reply.get("sid", "")
        if not self.sid:
            raise XmppError("the BOSH reply has no session id")
        return list(reply)

    def send(self, stanza: ET.Element) -> list[ET.Element]:
        return list(self._post([stanza]))

    def receive(self) -> list[ET.Element]:
        return list(self._post([]))

    def close(self) -> None:
        if self.sid:
            # A failed goodbye is harmless: the server ends the session when it times out.
            with suppress(XmppError):
                self._post([], type="terminate")
        self.http.close()


class Websocket:
    """XMPP over the websocket (RFC 7395): subprotocol "xmpp", one stanza per text message."""

    def __init__(self, endpoint: Endpoint) -> None:
        url = endpoint.url("/xmpp-websocket").replace("https://", "wss://", 1)
        query = f"?{urlencode(endpoint.query())}" if endpoint.query() else ""
        self.domain = endpoint.domain
        self._open = ExitStack()  # the socket and the websocket, closed together
        try:
            raw = self._open.enter_context(
                socket.create_connection(endpoint.address(), timeout=TIMEOUT)
            )
            self.connection: ClientConnection = self._open.enter_context(
                connect(
                    url + query,
                    sock=raw,
                    ssl=endpoint.ssl_context(),
                    server_hostname=endpoint.name,
                    subprotocols=[Subprotocol("xmpp")],
                    origin=Origin(endpoint.public_url.rstrip("/")),  # as the page's browser sends
                    open_timeout=TIMEOUT,
                )
            )
        except (OSError, WebSocketException) as error:
            self._open.close()
            raise XmppError(f"websocket {url} did not open: {endpoint.hidden(error)}") from None
        if self.connection.subprotocol != "xmpp":
            self._open.close()
            raise XmppError(f"websocket {url} did not agree to the xmpp subprotocol")

    def open_stream(self) -> list[ET.Element]:
        opening = ET.Element(f"{{{FRAMING}}}open", to=self.domain, version="1.0")
        return self.send(opening)

    def send(self, stanza: ET.Element) -> list[ET.Element]:
        try:
            self.connection.send(ET.tostring(stanza, encoding="unicode"))
        except WebSocketException as error:
            raise XmppError(f"the websocket closed: {error}") from None
        return []

    def receive(self) -> list[ET.Element]:
        try:
            message = self.connection.recv(timeout=1)
        except TimeoutError:
            return []
        except WebSocketException as error:
            raise XmppError(f"the websocket closed: {error}") from None
        element = _parse(message, "a websocket message")
        if element.tag == f"{{{FRAMING}}}close":
            raise XmppError("the server closed the XMPP stream")
        return [element]

    def close(self) -> None:
        with suppress(WebSocketException):  # already gone: nothing left to close politely
            self.connection.send(ET.tostring(ET.Element(f"{{{FRAMING}}}close")).decode())
        self._open.close()


def _parse(data: str | bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        raise XmppError(f"{what} is not XML: {str(data)[:200]!r}") from None


def _refusal(stanza: ET.Element) -> Refusal:
    error = stanza.find(f"{{{CLIENT}}}error")
    if error is None:
        return Refusal("", "no <error> child")
    conditions = (c.tag for c in error if c.tag.startswith(f"{{{STANZAS}}}"))
    condition = next((t.split("}")[1] for t in conditions if t != f"{{{STANZAS}}}text"), "")
    return Refusal(error.get("type", ""), condition, error.findtext(f"{{{STANZAS}}}text") or "")


class Session:
    """An anonymous user on the site: what the web page does before it shows a meeting."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.pending: list[ET.Element] = []
        self.jid = ""
        self.mechanisms: list[str] = []
        self.first_failure = ""

    def wait_for(self, accept: Callable[[ET.Element], bool], what: str) -> ET.Element:
        """The first element ``accept`` takes, received now or kept from earlier reads
        (a transport may deliver several stanzas at once, or before they were asked for)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = next((element for element in self.pending if accept(element)), None)
            if found is not None:
                self.pending.remove(found)
                return found
            if time.monotonic() > deadline:
                raise XmppError(f"no {what} from the server in {TIMEOUT:.0f}s")
            self.pending += self.transport.receive()

    def _send(self, stanza: ET.Element) -> None:
        self.pending += self.transport.send(stanza)

    def open(self) -> list[str]:
        """Open the stream; returns the login mechanisms the server offers."""
        self.pending += self.transport.open_stream()
        features = self.wait_for(_tag(FEATURES), "stream features")
        return [m.text or "" for m in features.iter(f"{{{SASL}}}mechanism")]

    def login(self) -> str:
        """Open the stream, SASL ANONYMOUS, restart, bind; returns the full JID bound."""
        mechanisms = self.open()
        if "ANONYMOUS" not in mechanisms:
            raise XmppError(f"no anonymous login (offered: {', '.join(mechanisms) or 'none'})")
        self._send(ET.Element(f"{{{SASL}}}auth", mechanism="ANONYMOUS"))
        answer = self.wait_for(_tag(f"{{{SASL}}}success", f"{{{SASL}}}failure"), "login answer")
        if answer.tag != f"{{{SASL}}}success":
            raise XmppError(f"anonymous login refused: {[c.tag for c in answer]}")
        self.pending += self.transport.open_stream()
        self.wait_for(_tag(FEATURES), "stream features after login")
        iq = self._iq("set", "", ET.Element(f"{{{BIND}}}bind"))
        self.jid = iq.findtext(f"{{{BIND}}}bind/{{{BIND}}}jid") or ""
        return self.jid

    def _iq(self, kind: str, to: str, payload: ET.Element) -> ET.Element:
        iq = ET.Element(f"{{{CLIENT}}}iq", type=kind, id=uuid.uuid4().hex)
        if to:
            iq.set("to", to)
        iq.append(payload)
        self._send(iq)
        answer = self.wait_for(
            lambda e: e.tag == f"{{{CLIENT}}}iq" and e.get("id") == iq.get("id"), "IQ answer"
        )
        if answer.get("type") == "error":
            raise XmppError(
                f"the server refused the {payload.tag.split('}')[-1]}: {_refusal(answer)}"
            )
        return answer

    def ask_focus(self, room: str) -> str:
        """Ask focus (jicofo) to set up the room, as the page does before joining; returns
        "ready", or why not (jicofo creates the rooms: without it a join is refused)."""
        request = ET.Element(
            f"{{{FOCUS}}}conference", room=room_jid(room), **{"machine-uid": uuid.uuid4().hex}
        )
        try:
            answer = self._iq("set", FOCUS_DOMAIN, request)
        except XmppError as error:
            return str(error)
        ready = answer.find(f"{{{FOCUS}}}conference")
        return "ready" if ready is not None and ready.get("ready") == "true" else "not ready"

    def external_services(self, namespace: str = EXTDISCO) -> list[ExternalService]:
        """The STUN/TURN servers the site hands this user (XEP-0215), as the page asks for them
        after login; an XmppError when the server answers with an error (Prosody without
        mod_external_services: cancel/service-unavailable)."""
        # Asked of the user's own server: mod_external_services answers logged-in sessions only.
        domain = self.jid.partition("@")[2].partition("/")[0]
        if not domain:
            raise XmppError("external services are handed to logged-in users only: log in first")
        answer = self._iq("get", domain, ET.Element(f"{{{namespace}}}services"))
        return external_services(answer, namespace)

    def join(self, room: str, password: str | None = None) -> Refusal | None:
        """Join ``room``; None when in, else the refusal the server sent."""
        nick = uuid.uuid4().hex[:8]
        presence = ET.Element(f"{{{CLIENT}}}presence", to=f"{room_jid(room)}/{nick}")
        x = ET.SubElement(presence, f"{{{MUC}}}x")
        if password is not None:
            ET.SubElement(x, f"{{{MUC}}}password").text = password
        self._send(presence)
        answer = self.wait_for(
            # Matched by the (unique) nick: the room's address comes back normalised.
            lambda e: e.tag == f"{{{CLIENT}}}presence" and e.get("from", "").endswith(f"/{nick}"),
            "presence from the room",
        )
        if answer.get("type") == "error":
            return _refusal(answer)
        self._send(
            ET.Element(f"{{{CLIENT}}}presence", to=f"{room_jid(room)}/{nick}", type="unavailable")
        )
        return None


def _tag(*tags: str) -> Callable[[ET.Element], bool]:
    return lambda element: element.tag in tags


def room_jid(room: str) -> str:
    return f"{room}@{MUC_DOMAIN}"


def _logged_in(transport_name: str, endpoint: Endpoint, anonymous: bool) -> Session:
    transport: Transport = Bosh(endpoint) if transport_name == "bosh" else Websocket(endpoint)
    user = Session(transport)
    try:
        if anonymous:
            user.login()
        else:
            user.mechanisms = user.open()
    except XmppError:
        transport.close()
        raise
    return user


@contextmanager
def session(transport_name: str, endpoint: Endpoint, anonymous: bool = True) -> Iterator[Session]:
    """A logged-in anonymous session over "bosh" or "websocket", closed at the end; without
    ``anonymous`` the stream is only opened (a site where every user needs an account).

    A failed first try is retried once, and kept in ``first_failure``: one lost packet on the
    way must not fail a deploy, yet it is worth a word in the report.
    """
    try:
        user = _logged_in(transport_name, endpoint, anonymous)
    except XmppError as error:
        user = _logged_in(transport_name, endpoint, anonymous)
        user.first_failure = str(error)
    try:
        yield user
    finally:
        user.transport.close()
