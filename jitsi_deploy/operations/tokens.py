"""Join links with a signed token for AUTH_TYPE=jwt: `https://SITE/ROOM?jwt=TOKEN`.

The token is what Jitsi's Prosody token module (jitsi-meet's resources/prosody-plugins/token/
util.lib.lua, with luajwtjitsi) accepts: an HS256 signature with JWT_APP_SECRET, a header with
typ JWT, `iss` among the accepted issuers and `aud` among the accepted audiences (both the app
id, see model/services.py), `room` the room to join (or `*` for any), `sub` the XMPP domain
(what its optional domain check compares), and `exp`/`nbf` in seconds, which it checks against
the server's clock.

Signing one HS256 token is a few lines of the standard library; the tests check it with an
independent implementation (PyJWT).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from ..errors import ConfigError, Problem
from ..model.services import JWT_SECRET, XMPP_DOMAIN
from ..settings.rooms import check_room_name
from ..settings.site import Site

MAX_HOURS = 24 * 30
# A server whose clock runs a little behind this machine's still accepts a fresh token.
CLOCK_SKEW_SECONDS = 60
ANY_ROOM = "*"


def check_jwt_site(site: Site) -> None:
    """ConfigError unless the site checks tokens (ENABLE_AUTH=1, AUTH_TYPE=jwt)."""
    if site.auth.enabled and site.auth.type == "jwt":
        return
    key, value = ("AUTH_TYPE", site.auth.type) if site.auth.enabled else ("ENABLE_AUTH", "0")
    message = (
        f"is {value}: the site checks no tokens. Set ENABLE_AUTH=1 and AUTH_TYPE=jwt and "
        "deploy, then make links."
    )
    raise ConfigError([Problem(".env", key, message)])


def room_claim(raw: str) -> str:
    """The room a token opens: a room name (lower-cased), or `*` for every room."""
    return ANY_ROOM if raw.strip() == ANY_ROOM else check_room_name(raw, "fab token")


def check_hours(hours: int) -> None:
    if not 1 <= hours <= MAX_HOURS:
        message = f"is not from 1 to {MAX_HOURS} (30 days): how many hours the link works."
        raise ConfigError([Problem("--hours", str(hours), message)])


def claims(site: Site, room: str, hours: int, now: float) -> dict[str, object]:
    issued = int(now)
    return {
        "iss": site.auth.jwt_app_id,
        "aud": site.auth.jwt_app_id,
        "sub": XMPP_DOMAIN,
        "room": room,
        "iat": issued,
        "nbf": issued - CLOCK_SKEW_SECONDS,
        "exp": issued + hours * 3600,
    }


def sign_hs256(payload: dict[str, object], secret: str) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    digest = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_base64url(digest)}"


def _segment(value: dict[str, object]) -> str:
    return _base64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def join_link(site: Site, raw_room: str, hours: int, now: float | None = None) -> str:
    """The link that opens ``raw_room`` for ``hours``; ConfigError on bad input."""
    check_jwt_site(site)
    room = room_claim(raw_room)
    check_hours(hours)
    token = token_for(site, room, hours, now)
    # A token for every room opens the front page, where the user names the room.
    path = "" if room == ANY_ROOM else room
    return f"https://{site.meet_hostname}/{path}?jwt={token}"


def smoke_token(site: Site) -> str:
    """A token for every room, for an hour: how `fab smoke` logs in to a jwt site as the page
    does. It is made here from the site's secret and never shown."""
    return token_for(site, ANY_ROOM, 1)


def token_for(site: Site, room: str, hours: int, now: float | None = None) -> str:
    return sign_hs256(claims(site, room, hours, time.time() if now is None else now), _secret(site))


def _secret(site: Site) -> str:
    return site.secrets[JWT_SECRET.name]
