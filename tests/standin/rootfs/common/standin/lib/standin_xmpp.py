"""The XMPP side of the jicofo and jvb stand-ins: a login that keeps reconnecting, MUC joins.
Runs on Debian trixie's python3-slixmpp (1.10) inside the images.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from standin import log

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
COLIBRI_NS = "http://jitsi.org/protocol/colibri"
RETRY_SECONDS = 0.5
POLL_SECONDS = 0.25


class Session(slixmpp.ClientXMPP):
    """One login that keeps reconnecting, like the Smack connections of jicofo and jvb: STARTTLS,
    without certificate verification unless ``trust`` is given (DISABLE_CERTIFICATE_VERIFICATION
    / disable-certificate-verification in jvb.conf and jicofo.conf; with ``trust``, the
    certificate must chain to it and name the login's domain), retried every half second while
    the server is away, and stream management with resumption (Smack's default), so Prosody
    keeps a session that ends without a goodbye for smacks_hibernation_time (15 s on
    auth.meet.jitsi)."""

    def __init__(
        self,
        jid: str,
        password: str,
        address: tuple[str, int],
        trust: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(jid, password)
        self.address = address
        self.enable_direct_tls = False
        self.enable_plaintext = False
        if trust is None:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        else:
            self.ssl_context = trust
            self.add_event_handler("ssl_invalid_chain", self._refused_certificate)
        self.online = False
        self._unreachable_reported = False
        self._down = asyncio.Event()
        self.register_plugin("xep_0198")
        self.add_event_handler("session_start", self._session_start)
        self.add_event_handler("session_resumed", self._session_resumed)
        self.add_event_handler("disconnected", self._lost)
        self.add_event_handler("connection_failed", self._lost)
        self.add_event_handler("failed_all_auth", self._auth_failed)
        self.register_handler(
            Callback("presence", MatchXPath("{jabber:client}presence"), self._presence)
        )

    def _session_start(self, _event: object) -> None:
        self.online = True
        self._unreachable_reported = False
        log.info("%s: logged in at %s:%d", self.boundjid.bare, *self.address)
        self.send_presence()
        self.session_started()

    def _session_resumed(self, _event: object) -> None:
        self.online = True
        log.info("%s: session resumed at %s:%d", self.boundjid.bare, *self.address)

    def _lost(self, reason: object) -> None:
        me = self.boundjid.bare
        if self.online:
            log.warning("%s: XMPP session lost (%s)", me, reason)
        elif not self._unreachable_reported:
            log.warning("%s: cannot log in at %s:%d (%s); retrying", me, *self.address, reason)
            self._unreachable_reported = True
        self.online = False
        self.session_ended()
        self._down.set()

    def _refused_certificate(self, error: ssl.SSLError) -> None:
        log.error(
            "%s: the certificate of %s:%d is refused (%s)", self.boundjid.bare, *self.address,
            getattr(error, "verify_message", "") or error,
        )  # fmt: skip
        self.disconnect()

    def _auth_failed(self, _event: object) -> None:
        log.error("%s: authentication refused by %s:%d", self.boundjid.bare, *self.address)
        self.abort()
        self._down.set()

    def _presence(self, presence: slixmpp.Presence) -> None:
        self.presence_received(presence.xml)

    def session_started(self) -> None:
        """Called on each login."""

    def session_ended(self) -> None:
        """Called when the connection is gone."""

    def presence_received(self, presence: ET.Element) -> None:
        """Called with every presence stanza."""

    def join(self, room_jid: str, nick: str, *extensions: ET.Element) -> None:
        """Send a MUC join presence to room_jid/nick carrying `extensions`."""
        presence = self.make_presence(pto=f"{room_jid}/{nick}")
        presence.xml.append(ET.Element(f"{{{MUC_NS}}}x"))
        presence.xml.extend(extensions)
        presence.send()

    async def keep_connected(self, hold_off: Callable[[], bool] = lambda: False) -> None:
        """Connect, and reconnect after every loss, except while `hold_off()` is true."""
        while True:
            while hold_off():
                await asyncio.sleep(POLL_SECONDS)
            self._down.clear()
            self.connect(*self.address)
            await self._down.wait()
            self.cancel_connection_attempt()
            await asyncio.sleep(RETRY_SECONDS)


def muc_status_codes(presence: ET.Element) -> set[str]:
    return {
        status.get("code", "")
        for status in presence.iterfind(f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}status")
    }
