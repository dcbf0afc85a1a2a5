"""`fab rotate-secrets` on the deployed Debian 12 core and Debian 13 bridge: the new passwords
reach the real Prosody 13's accounts and every host, and jicofo counts both bridges again; the
core runs TURN, whose new secret reaches coturn and the credentials Prosody hands out."""

from __future__ import annotations

import re
import stat

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.services import JICOFO_PASSWORD, JVB_PASSWORD
from jitsi_deploy.model.turn import TURN_SECRET
from jitsi_deploy.settings.envfile import parse_env
from tests.e2e.site import Site
from tests.rig.hosts import host_exec

pytestmark = pytest.mark.slow


def secrets(site: Site) -> dict[str, str]:
    return parse_env(site.folder / ".secrets.env")[0].values


def test_new_xmpp_passwords_reach_the_accounts_and_every_host(site: Site) -> None:
    core, bridge = site.hosts
    before = secrets(site)
    result = site.fab("rotate-secrets", "--resolve", f"{core.address}:443", "--wait", "180")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    after = secrets(site)
    for name in (JICOFO_PASSWORD.name, JVB_PASSWORD.name, TURN_SECRET.name):
        assert after[name] != before[name]
        assert after[name] not in output
    kept = next(site.folder.glob(".secrets.env.*"))
    assert parse_env(kept)[0].values == before
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    bridge_env = host_exec(bridge, "cat", "/opt/jitsi-meet/.env", check=True).stdout
    assert f"JVB_AUTH_PASSWORD={after[JVB_PASSWORD.name]}" in bridge_env.splitlines()
    assert re.search(r"^ok\s+.*bridges: jicofo sees every bridge of the inventory", output, re.M)
    coturn = host_exec(core, "cat", paths.TURN_CONFIG, check=True).stdout
    assert f"static-auth-secret={after[TURN_SECRET.name]}" in coturn.splitlines()
    # smoke allocated relays with the credentials the restarted Prosody handed out
    assert re.search(r"^ok\s+.*TURN over TLS on 443", output, re.M), output
