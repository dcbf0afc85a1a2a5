"""A site with AUTH_TYPE=jwt on a rig host, where the prosody stand-in checks tokens as Jitsi's
token plugin does (tests/standin/CONTRACT.md): `fab smoke` logs in with a token it makes from
the site's secret and proves the rooms; a link from `fab token` lets in through the site's nginx
and web, a forged one does not."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from jitsi_deploy.smoke import xmpp
from tests.e2e.conftest import AUTH_SETTINGS
from tests.e2e.site import REPO, Site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jwt_site(auth_core: Site) -> Site:
    """auth_core, once its account tests are done (they run in earlier modules), made a jwt
    site: a redeploy recreates prosody and web, far cheaper than a host of its own. fail2ban
    stays on, as the last of those tests left it."""
    auth_core.write({**AUTH_SETTINGS, "AUTH_TYPE": "jwt", "ENABLE_FAIL2BAN": "1"})
    switched = auth_core.fab("deploy")
    assert switched.returncode == 0, switched.stdout + switched.stderr
    return auth_core


def endpoint(site: Site, token: str) -> xmpp.Endpoint:
    """The site through its core's nginx, as a browser reaches it (self-signed certificate)."""
    core = site.hosts[0]
    return xmpp.Endpoint("https://meet.example.org", f"{core.address}:443", False, token=token)


def test_smoke_logs_in_with_a_token_and_proves_the_rooms(jwt_site: Site) -> None:
    core = jwt_site.hosts[0]
    passed = jwt_site.fab("smoke", "--resolve", f"{core.address}:443", "--wait", "120")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    for transport in ("BOSH", "websocket"):
        assert re.search(rf"^ok\s+{transport}: token session ", passed.stdout, re.M), passed.stdout
    for check in ("public room", "private room with password"):
        assert re.search(rf"^ok\s+{check}:", passed.stdout, re.M), passed.stdout
    assert "?token=" not in passed.stdout + passed.stderr, "the token is never shown"


def test_a_link_from_fab_token_lets_in_and_a_forged_one_does_not(jwt_site: Site) -> None:
    inventory = ("--env", str(jwt_site.env), "--inventory", str(jwt_site.folder / "hosts"))
    made = subprocess.run(
        [sys.executable, "-m", "fabric", "token", "--room", "standup", "--hours", "1", *inventory],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    link = made.stdout.strip().splitlines()[-1]
    token = parse_qs(urlsplit(link).query)["jwt"][0]
    with xmpp.session("websocket", endpoint(jwt_site, token)) as user:
        assert f"@{xmpp.XMPP_DOMAIN}/" in user.jid
    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[::-1]}"
    with (
        pytest.raises(xmpp.XmppError, match="refused"),
        xmpp.session("bosh", endpoint(jwt_site, forged)),
    ):
        pass
