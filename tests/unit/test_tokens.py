"""Join links for AUTH_TYPE=jwt: the token checked by an independent implementation (PyJWT)
the way Jitsi's Prosody token module checks it (HS256 with JWT_APP_SECRET, typ JWT, iss and aud
the app id, room, sub, exp, nbf), and the environment the prosody image reads for it.

Jitsi's token module itself (jitsi-meet-prosody with luajwtjitsi) cannot run here, so no test
logs in with a token: see tests/standin/CONTRACT.md.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model.services import PROSODY, WEB, placement_of
from jitsi_deploy.operations import tokens
from jitsi_deploy.render.compose import EnvRef, env_file, environment
from jitsi_deploy.settings.site import Deployment
from tests.unit.sites import fab, site_with

CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub", "room"]


def jwt_site(folder: Path, **settings: str) -> Deployment:
    return site_with(folder, ENABLE_AUTH="1", AUTH_TYPE="jwt", **settings)


def core_site(deployment: Deployment):
    return deployment.sites["meet.example.org"]


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["jwt"][0]


def verify(token: str, secret: str, app_id: str = "jitsi-deploy") -> dict:
    """What the token module accepts: the signature, iss and aud, exp and nbf (now)."""
    return jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=app_id,
        issuer=app_id,
        options={"require": CLAIMS},
    )


def test_the_link_opens_the_room_with_a_token_signed_by_the_site_secret(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path, JWT_APP_ID="team.app"))
    before = int(time.time())
    link = tokens.join_link(site, "Daily-Standup", 3)
    assert link.startswith("https://meet.example.org/daily-standup?jwt=")
    token = link_token(link)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = verify(token, site.secrets["JWT_APP_SECRET"], "team.app")
    assert (claims["room"], claims["sub"]) == ("daily-standup", "meet.jitsi")
    assert claims["exp"] - claims["iat"] == 3 * 3600
    assert before - 60 <= claims["nbf"] <= claims["iat"] <= time.time()


def test_a_token_for_every_room_opens_the_front_page(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path))
    link = tokens.join_link(site, "*", 1)
    assert link.startswith("https://meet.example.org/?jwt=")
    assert verify(link_token(link), site.secrets["JWT_APP_SECRET"])["room"] == "*"


def test_an_expired_token_fails_verification(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path))
    token = link_token(tokens.join_link(site, "daily", 2, now=time.time() - 3 * 3600))
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, site.secrets["JWT_APP_SECRET"])


def test_a_token_not_yet_valid_fails_verification(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path))
    token = link_token(tokens.join_link(site, "daily", 2, now=time.time() + 3600))
    with pytest.raises(jwt.ImmatureSignatureError):
        verify(token, site.secrets["JWT_APP_SECRET"])


def test_a_token_signed_with_another_secret_fails_verification(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path))
    token = link_token(tokens.join_link(site, "daily", 2))
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, "another-sites-secret-of-enough-length!")
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{header}.{payload}.{flipped}", site.secrets["JWT_APP_SECRET"])


def test_a_token_of_another_app_fails_verification(tmp_path: Path) -> None:
    site = core_site(jwt_site(tmp_path))
    token = link_token(tokens.join_link(site, "daily", 2))
    with pytest.raises((jwt.InvalidIssuerError, jwt.InvalidAudienceError)):
        verify(token, site.secrets["JWT_APP_SECRET"], app_id="other-app")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ENABLE_AUTH": "0"}, "ENABLE_AUTH: is 0: the site checks no tokens"),
        ({"ENABLE_AUTH": "1", "AUTH_TYPE": "internal"}, "AUTH_TYPE: is internal"),
    ],
)
def test_no_link_without_token_authentication(tmp_path: Path, settings, message) -> None:
    site = core_site(site_with(tmp_path, **settings))
    with pytest.raises(ConfigError, match=message):
        tokens.join_link(site, "daily", 1)


@pytest.mark.parametrize("room", ["a b", "[team]daily", "priv\u0430te", "-x", ""])
def test_a_bad_room_is_refused(tmp_path: Path, room: str) -> None:
    with pytest.raises(ConfigError, match="fab token: ROOM"):
        tokens.join_link(core_site(jwt_site(tmp_path)), room, 1)


@pytest.mark.parametrize("hours", [0, -1, tokens.MAX_HOURS + 1])
def test_hours_out_of_range_are_refused(tmp_path: Path, hours: int) -> None:
    with pytest.raises(ConfigError, match="--hours"):
        tokens.join_link(core_site(jwt_site(tmp_path)), "daily", hours)


@pytest.mark.parametrize("app_id", ["", "my app", 'a"b', "a\\b", "-lead", "x" * 65])
def test_a_bad_app_id_is_refused_when_the_settings_are_read(tmp_path: Path, app_id: str) -> None:
    with pytest.raises(ConfigError, match=r"JWT_APP_ID: .* is not an app id"):
        jwt_site(tmp_path, JWT_APP_ID=app_id)


def test_the_secret_is_made_once_kept_private_and_stable(tmp_path: Path) -> None:
    first = core_site(jwt_site(tmp_path)).secrets["JWT_APP_SECRET"]
    assert len(first) >= 43  # 32 random bytes
    assert stat.S_IMODE((tmp_path / ".secrets.env").stat().st_mode) == 0o600
    assert core_site(jwt_site(tmp_path)).secrets["JWT_APP_SECRET"] == first


def test_prosody_gets_what_the_image_reads_for_jwt(tmp_path: Path) -> None:
    """prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua at stable-11146-2: with ENABLE_AUTH
    and AUTH_TYPE=jwt, `authentication = "token"`, app_id from JWT_APP_ID, app_secret from
    JWT_APP_SECRET, asap_accepted_issuers/audiences from JWT_ACCEPTED_ISSUERS/AUDIENCES."""
    deployment = jwt_site(tmp_path, JWT_APP_ID="team.app")
    core = deployment.core
    assert core is not None
    placement = placement_of(deployment, core)
    values = environment(PROSODY, placement)
    assert {k: values[k] for k in ("ENABLE_AUTH", "AUTH_TYPE", "JWT_APP_ID")} == {
        "ENABLE_AUTH": "1",
        "AUTH_TYPE": "jwt",
        "JWT_APP_ID": "team.app",
    }
    assert values["JWT_ACCEPTED_ISSUERS"] == values["JWT_ACCEPTED_AUDIENCES"] == "team.app"
    # The secret reaches the container through the env file, never the compose file.
    assert values["JWT_APP_SECRET"] == EnvRef("JWT_APP_SECRET")
    secret = core_site(deployment).secrets["JWT_APP_SECRET"]
    assert f"JWT_APP_SECRET={secret}\n" in env_file(placement, [WEB, PROSODY])
    assert environment(WEB, placement)["AUTH_TYPE"] == "jwt"


def test_without_jwt_prosody_gets_no_app_id(tmp_path: Path) -> None:
    deployment = site_with(tmp_path, ENABLE_AUTH="1")
    core = deployment.core
    assert core is not None
    values = environment(PROSODY, placement_of(deployment, core))
    assert not {"JWT_APP_ID", "JWT_ACCEPTED_ISSUERS", "JWT_ACCEPTED_AUDIENCES"} & set(values)


def test_fab_token_prints_one_link_and_nothing_else(tmp_path: Path) -> None:
    secret = core_site(jwt_site(tmp_path)).secrets["JWT_APP_SECRET"]
    done = fab(tmp_path, "token", "Daily", "--hours", "2")
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith("https://meet.example.org/daily?jwt=") and "\n" not in link
    assert verify(link_token(link), secret)["room"] == "daily"
    assert secret not in done.stdout + done.stderr
