"""The token `fab smoke` logs in with on a jwt site lets its holder in: it goes on the BOSH and
websocket URLs, as the page sends it, and never into a message, even when a library quotes the
URL in its error."""

from __future__ import annotations

import pytest

from jitsi_deploy.smoke import xmpp
from tests.ports import free_port

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize("transport", ["bosh", "websocket"])
def test_a_failed_connection_names_the_url_without_the_token(transport: str) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there: the connection is refused
    endpoint = xmpp.Endpoint("https://meet.example.org", nowhere, False, token=TOKEN)
    with pytest.raises(xmpp.XmppError) as failed, xmpp.session(transport, endpoint):
        pass
    said = str(failed.value)
    assert TOKEN not in said and "meet.example.org" in said, said


def test_the_token_goes_on_the_url_as_the_page_sends_it() -> None:
    endpoint = xmpp.Endpoint("https://meet.example.org", token=TOKEN)
    assert endpoint.query() == {"token": TOKEN}
    assert xmpp.Endpoint("https://meet.example.org").query() == {}
