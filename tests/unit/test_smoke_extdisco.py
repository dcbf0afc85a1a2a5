"""The smoke client's external service discovery (XEP-0215): the query goes to the user's own
server in the namespace asked, and Prosody's answer (mod_external_services' services_xml) reads
as typed records."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from jitsi_deploy.smoke import xmpp

# As mod_external_services writes it: port with %d, expires in XEP-0082, restricted as "1".
ANSWER = """<iq xmlns="jabber:client" type="result" id="{id}" from="meet.jitsi">
  <services xmlns="{ns}">
    <service type="turn" transport="udp" host="turn.example.org" port="3478"
      username="1767225600" password="bm90LWEtcmVhbC1obWFj" expires="2026-01-01T00:00:00Z"
      restricted="1"/>
    <service type="stun" transport="udp" host="stun.example.org"/>
  </services>
</iq>"""


class Answering:
    """A transport whose server answers each IQ with ANSWER, and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[ET.Element] = []

    def send(self, stanza: ET.Element) -> list[ET.Element]:
        self.sent.append(stanza)
        namespace = stanza[0].tag.split("}")[0][1:]
        return [ET.fromstring(ANSWER.format(id=stanza.get("id"), ns=namespace))]


@pytest.mark.parametrize("namespace", [xmpp.EXTDISCO, xmpp.EXTDISCO_OLD])
def test_the_query_goes_to_the_users_domain_and_reads_as_records(namespace: str) -> None:
    transport = Answering()
    user = xmpp.Session(transport)  # type: ignore[arg-type]
    user.jid = "a1b2c3@meet.jitsi/resource"
    services = user.external_services(namespace)
    (iq,) = transport.sent
    assert (iq.get("type"), iq.get("to"), iq[0].tag) == (
        "get",
        "meet.jitsi",
        f"{{{namespace}}}services",
    )
    assert services == [
        xmpp.ExternalService(
            type="turn",
            host="turn.example.org",
            port=3478,
            transport="udp",
            username="1767225600",
            password="bm90LWEtcmVhbC1obWFj",
            expires=datetime(2026, 1, 1, tzinfo=UTC),
            restricted=True,
        ),
        xmpp.ExternalService(type="stun", host="stun.example.org", port=None, transport="udp"),
    ]


def test_before_login_nothing_is_asked() -> None:
    transport = Answering()
    with pytest.raises(xmpp.XmppError, match="logged-in users only"):
        xmpp.Session(transport).external_services()  # type: ignore[arg-type]
    assert transport.sent == []


def test_an_answer_in_another_namespace_is_an_error() -> None:
    answer = ET.fromstring(ANSWER.format(id="1", ns=xmpp.EXTDISCO_OLD))
    with pytest.raises(xmpp.XmppError, match="no <services"):
        xmpp.external_services(answer, xmpp.EXTDISCO)
