"""AUTH_TYPE=jwt against the prosody stand-in (CONTRACT.md, "prosody"): the environment the
product renders for a jwt site, and the links `fab token` makes, checked the way Jitsi's token
plugin checks them. A login needs a token on the websocket's URL, signed with the site's secret,
for the site's app id, in its time; a token opens the room it names (or every room with `*`).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from jitsi_deploy.model import services
from jitsi_deploy.operations import tokens
from jitsi_deploy.render.compose import EnvRef, environment
from jitsi_deploy.settings.site import Site
from tests.standin import webxmpp
from tests.standin.standins import PASSWORDS, Container, Options, network, owned_dir, running
from tests.standin.test_xmpp import ALIAS, jicofo_env
from tests.unit.sites import site_with

pytestmark = pytest.mark.docker

DOMAIN = "meet.jitsi"
MUC = "muc.meet.jitsi"


@dataclass
class TokenSite:
    site: Site
    prosody: Container
    jicofo: Container | None = None  # opens rooms; logins alone need none

    def websocket(self, token: str | None) -> str:
        query = f"?token={token}" if token is not None else ""
        return f"ws://{self.prosody.address()}:5280/xmpp-websocket{query}"

    def join(self, token: str | None, room: str) -> webxmpp.Joined:
        join = webxmpp.websocket_join(self.websocket(token), DOMAIN, f"{room}@{MUC}", "visitor")
        return asyncio.run(join)

    def open_room(self, room: str) -> None:
        """Have jicofo open ``room``, as the page asks before it joins (only focus creates)."""
        assert self.jicofo is not None, "this site has no jicofo to open rooms"
        url = f"http://{self.jicofo.address()}:8888/conference-request/v1"
        body = json.dumps({"room": f"{room}@{MUC}"}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            assert json.load(response)["ready"] is True


def product_environment(site_folder: Path) -> tuple[Site, dict[str, str]]:
    """The jwt settings of prosody's environment as the product renders it for a jwt site,
    secrets resolved from the site's secrets."""
    deployment = site_with(site_folder, ENABLE_AUTH="1", AUTH_TYPE="jwt")
    core = deployment.core
    assert core is not None
    site = deployment.sites[core.name]
    values = environment(services.PROSODY, services.placement_of(deployment, core))
    resolved = {
        key: site.secrets[value.name] if isinstance(value, EnvRef) else str(value)
        for key, value in values.items()
    }
    wanted = {key for key in resolved if key.startswith("JWT_")} | {"ENABLE_AUTH", "AUTH_TYPE"}
    return site, {key: resolved[key] for key in wanted}


@pytest.fixture(scope="module")
def token_site(images, tmp_path_factory) -> Iterator[TokenSite]:
    folder = tmp_path_factory.mktemp("token-site")
    site, jwt_env = product_environment(folder)
    with ExitStack() as stack:
        net = stack.enter_context(network())
        prosody_options = Options(
            volumes=[
                f"{owned_dir(folder / 'config')}:/config:ro",
                f"{owned_dir(folder / 'prosody-plugins-custom')}:/prosody-plugins-custom:ro",
                f"{owned_dir(folder / 'storage')}:/var/lib/prosody",
            ],
            env={**PASSWORDS, **jwt_env},
            network=net,
            aliases=[ALIAS],
        )
        prosody = stack.enter_context(running(images["prosody"], prosody_options))
        prosody.wait_healthy()
        jicofo_options = Options(env=jicofo_env(JICOFO_ENABLE_REST="1"), network=net)
        jicofo = stack.enter_context(running(images["jicofo"], jicofo_options))
        jicofo.wait_for(lambda: "logged in" in jicofo.logs(), "jicofo's login")
        yield TokenSite(site, prosody, jicofo)


def link_token(site: Site, room: str, hours: int = 1, now: float | None = None) -> str:
    """The token of the link `fab token` prints."""
    link = tokens.join_link(site, room, hours, now)
    return parse_qs(urlsplit(link).query)["jwt"][0]


def refusal(token_site: TokenSite, token: str | None) -> str:
    """Why the login with ``token`` is refused (SASL's failure), '' when it is not."""
    try:
        token_site.join(token, "lobby")
    except RuntimeError as error:
        return str(error)
    return ""


def test_a_link_from_fab_token_logs_in_and_opens_its_room(token_site: TokenSite) -> None:
    token_site.open_room("standup")
    joined = token_site.join(link_token(token_site.site, "standup"), "standup")
    assert joined.accepted, joined


def test_a_token_opens_only_the_room_it_names(token_site: TokenSite) -> None:
    token_site.open_room("other-room")
    refused = token_site.join(link_token(token_site.site, "standup"), "other-room")
    assert not refused.accepted and refused.presence.get("type") == "error"
    assert refused.presence.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}not-allowed") is not None
    every_room = token_site.join(link_token(token_site.site, tokens.ANY_ROOM), "other-room")
    assert every_room.accepted


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no token", "a token is required"),
        ("another secret", "signature verification failed"),
        ("expired", "token expired"),
        ("another issuer", "invalid issuer"),
        ("not a token", "not a signed JWT"),
    ],
)
def test_a_login_without_a_good_token_is_refused(
    token_site: TokenSite, case: str, reason: str
) -> None:
    site = token_site.site
    claims = tokens.claims(site, "lobby", 1, time.time())
    secret = site.secrets[services.JWT_SECRET.name]
    token = {
        "no token": None,
        "another secret": tokens.sign_hs256(claims, "not-the-site-secret"),
        "expired": link_token(site, "lobby", hours=1, now=time.time() - 2 * 3600),
        "another issuer": tokens.sign_hs256({**claims, "iss": "someone-else"}, secret),
        "not a token": "abc",
    }[case]
    said = refusal(token_site, token)
    assert "not-authorized" in said and reason in said, said


def test_without_accepted_claims_set_only_the_app_id_is_issuer_and_audience(
    images, prosody_options, tmp_path
) -> None:
    """JWT_ACCEPTED_ISSUERS and _AUDIENCES unset: Jitsi's plugin takes the app id as issuer and
    no longer any audience; the stand-in holds both to the app id, never to "any"."""
    site, jwt_env = product_environment(tmp_path)
    unset = {k: v for k, v in jwt_env.items() if not k.startswith("JWT_ACCEPTED_")}
    prosody_options.env.update(unset)
    secret = site.secrets[services.JWT_SECRET.name]
    claims = tokens.claims(site, "lobby", 1, time.time())
    with running(images["prosody"], prosody_options) as prosody:
        prosody.wait_healthy()
        alone = TokenSite(site, prosody)
        assert refusal(alone, tokens.sign_hs256(claims, secret)) == ""
        for other in ({"iss": "someone-else"}, {"aud": "someone-else"}):
            said = refusal(alone, tokens.sign_hs256({**claims, **other}, secret))
            assert "not-authorized" in said, (other, said)
