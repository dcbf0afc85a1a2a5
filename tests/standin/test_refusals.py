"""Each refusal CONTRACT.md claims, broken once and seen to stop the container with its
message: a boolean the templates' toBool does not take, in every stand-in that reads one, the
prosody modes the stand-in does not implement (refused, never run as something else), and a
`user:` other than the image's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standin.standins import PASSWORDS, Options, owned_dir, running

pytestmark = pytest.mark.docker

NOT_A_BOOLEAN = "is not a boolean the templates accept (1, 0, true, false)"
# (stand-in, what is set, what the container says before it stops)
CASES = [
    ("prosody", {"ENABLE_IPV6": "yes"}, f"ENABLE_IPV6='yes' {NOT_A_BOOLEAN}"),
    ("prosody", {"PROSODY_MODE": "visitors"}, "runs PROSODY_MODE=client only, not 'visitors'"),
    ("prosody", {"ENABLE_VISITORS": "1"}, "does not implement ENABLE_VISITORS"),
    (
        "prosody",
        {"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap"},
        "implements AUTH_TYPE internal and jwt, not 'ldap'",
    ),
    (
        "prosody",
        {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "jitsi-deploy"},
        "AUTH_TYPE=jwt needs JWT_APP_ID and JWT_APP_SECRET",
    ),
    ("web", {"ENABLE_HTTP_REDIRECT": "on"}, f"ENABLE_HTTP_REDIRECT='on' {NOT_A_BOOLEAN}"),
    ("jvb", {"JVB_DISABLE_STUN": "no"}, f"JVB_DISABLE_STUN='no' {NOT_A_BOOLEAN}"),
]


@pytest.mark.parametrize("user", ["0", "1001"])
def test_a_user_other_than_the_images_stops_the_container(images, user: str) -> None:
    """A compose `user:` would make the real images run their services as another user (root
    for 0): the stand-ins refuse it, stricter than the images (CONTRACT.md)."""
    jvb = Options(env={"JVB_AUTH_PASSWORD": PASSWORDS["JVB_AUTH_PASSWORD"]}, extra=["--user", user])
    with running(images["jvb"], jvb) as container:
        assert container.wait_exit() == 1
        assert f"runs as uid {user}, not the image's user s6 (uid 1000)" in container.logs()


def options(service: str, tmp_path: Path, env: dict[str, str]) -> Options:
    if service == "prosody":
        config = tmp_path / "prosody"
        volumes = [
            f"{owned_dir(config / 'config')}:/config:ro",
            f"{owned_dir(config / 'prosody-plugins-custom')}:/prosody-plugins-custom:ro",
            f"{owned_dir(tmp_path / 'storage')}:/var/lib/prosody",
        ]
        return Options(volumes=volumes, env={**PASSWORDS, **env})
    if service == "web":
        volumes = [f"{owned_dir(tmp_path / 'web')}:/config:ro"]
        web_env = {"DISABLE_HTTPS": "1", "PUBLIC_URL": "https://meet.example.org"}
        return Options(volumes=volumes, env={**web_env, **env})
    return Options(env={"JVB_AUTH_PASSWORD": PASSWORDS["JVB_AUTH_PASSWORD"], **env})


@pytest.mark.parametrize(
    ("service", "env", "said"), CASES, ids=[f"{c[0]}-{next(iter(c[1]))}" for c in CASES]
)
def test_a_refused_setting_stops_the_container_with_its_reason(
    images, tmp_path: Path, service: str, env: dict[str, str], said: str
) -> None:
    with running(images[service], options(service, tmp_path, env)) as container:
        assert container.wait_exit() == 1
        assert said in container.logs()
