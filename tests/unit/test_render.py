"""Rendering: complete, deterministic, role-aware, and accepted by the real validators."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.errors import ValidationError
from jitsi_deploy.model import paths
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.model.managed import File
from jitsi_deploy.render.host import render_host
from jitsi_deploy.render.validate import validate
from jitsi_deploy.settings.site import Deployment
from tests.unit.sites import REPO, TWO_HOSTS, rendered, site_with, two_hosts


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return two_hosts(tmp_path)


def compose_ports(compose: str) -> list[str]:
    """Every published port of a rendered compose file (the lines under `ports:`)."""
    ports, inside = [], False
    for line in compose.splitlines():
        stripped = line.strip()
        if stripped.endswith(":"):
            inside = stripped == "ports:"
        elif inside and stripped.startswith("- "):
            ports.append(stripped[2:].strip('"'))
    return ports


def test_rendering_twice_gives_identical_bytes(deployment: Deployment) -> None:
    for host in deployment.hosts:
        assert render_host(deployment, host) == render_host(deployment, host)


def test_core_gets_the_whole_stack_and_binds_private_ports_to_loopback(
    deployment: Deployment,
) -> None:
    compose = rendered(deployment, "meet.example.org").file(paths.COMPOSE_FILE).content.decode()
    for service in ("web:", "prosody:", "jicofo:", "jvb:", "uptime-kuma:"):
        assert f"\n  {service}\n" in compose
    ports = compose_ports(compose)
    public = [p for p in ports if not p.startswith("127.0.0.1:")]
    assert public == ["5222:5222", "10000:10000/udp"]
    assert "ghcr.io/jitsi/web:stable-11146-2" in compose
    assert 'JVB_ADVERTISE_IPS: "203.0.113.10"' in compose


def test_bridge_host_gets_only_the_bridge_pointed_at_the_core(deployment: Deployment) -> None:
    bridge = rendered(deployment, "jvb1.example.org")
    compose = bridge.file(paths.COMPOSE_FILE).content.decode()
    assert "\n  jvb:\n" in compose
    assert "prosody:" not in compose and "uptime-kuma" not in compose
    assert 'XMPP_SERVER: "203.0.113.10"' in compose
    assert not any(f.path.startswith(paths.PROSODY_PLUGINS_DIR) for f in bridge.files)


def test_secrets_stay_out_of_the_compose_file(deployment: Deployment) -> None:
    core = rendered(deployment, "meet.example.org")
    secret = core.site.secrets["JVB_AUTH_PASSWORD"]
    assert secret not in core.file(paths.COMPOSE_FILE).content.decode()
    env = core.file(paths.COMPOSE_ENV)
    assert secret in env.content.decode() and env.mode == 0o600


def test_core_firewall_admits_the_bridge_to_xmpp_only(deployment: Deployment) -> None:
    rules = rendered(deployment, "meet.example.org").file(paths.FIREWALL_PLAN).content.decode()
    assert "allow 22/tcp from any" in rules.splitlines()[2]
    assert "allow 5222/tcp from 203.0.113.11" in rules


@pytest.mark.parametrize("name", ["meet.example.org", "jvb1.example.org"])
def test_the_real_validators_accept_the_rendering(deployment: Deployment, name: str) -> None:
    results = validate(rendered(deployment, name))
    assert "ok       compose config" in results
    assert not [r for r in results if not r.startswith("ok")], results


def test_a_broken_compose_file_is_refused(deployment: Deployment) -> None:
    core = rendered(deployment, "meet.example.org")
    broken = File(paths.COMPOSE_FILE, b"services:\n  web:\n    image: [unclosed\n")
    files = tuple(broken if f.path == paths.COMPOSE_FILE else f for f in core.files)
    with pytest.raises(ValidationError, match="compose config failed"):
        validate(replace(core, files=files))


def invoke_render(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "render", *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)


def test_invoke_render_writes_the_example_under_build(tmp_path: Path) -> None:
    result = invoke_render("--build", str(tmp_path / "build"))
    assert result.returncode == 0, result.stderr
    assert "ok       compose config" in result.stdout
    assert "ok       nginx -t /etc/nginx/conf.d/jitsi-meet.conf" in result.stdout
    assert (tmp_path / "build/meet.example.org/opt/jitsi-meet/docker-compose.yml").is_file()
    # The monitors the deploy will provision, without the secret-derived push tokens.
    monitors = json.loads((tmp_path / "build/meet.example.org/monitors.json").read_text())
    assert "jitsi-deploy: meet.example.org: site" in [m["name"] for m in monitors]
    assert all(m["push_token"] == "" for m in monitors)


def test_invoke_render_refuses_bad_settings_with_exit_1(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text((REPO / ".env.example").read_text().replace("https://meet", "http://meet"))
    result = invoke_render("--env", str(env), "--build", str(tmp_path / "build"))
    assert result.returncode == 1
    assert "PUBLIC_URL: 'http://meet.example.org' is not an https URL" in result.stderr
    assert not (tmp_path / "build").exists()


def test_the_room_policy_is_wired_into_prosody(deployment: Deployment) -> None:
    core = rendered(deployment, "meet.example.org")
    compose = core.file(paths.COMPOSE_FILE).content.decode()
    assert 'XMPP_MUC_MODULES: "room_policy"' in compose
    assert 'XMPP_BREAKOUT_MUC_MODULES: "room_policy"' in compose
    settings = core.file(f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua")
    assert (settings.mode, settings.owner) == (0o600, "1000")
    text = settings.content.decode()
    assert 'room_policy_public_rooms = { "daily-standup"; "team-meeting"; "weekly-review" }' in text
    assert f'room_policy_default_password = "{core.site.rooms.default_password}"' in text
    module = core.file(f"{paths.PROSODY_PLUGINS_DIR}/mod_room_policy.lua")
    assert module.content == (REPO / "templates/prosody/mod_room_policy.lua").read_bytes()


def test_fail2ban_jails_follow_the_switch(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(TWO_HOSTS.replace("203.0.113.10", "203.0.113.10 port=2222"))
    env = tmp_path / ".env"
    env.write_text((REPO / ".env.example").read_text().replace("FAIL2BAN=0", "FAIL2BAN=1"))
    deployment = load(env, tmp_path / "hosts", tmp_path / ".secrets.env")
    core = rendered(deployment, "meet.example.org").file(paths.FAIL2BAN_JAILS)
    assert "[sshd]\nenabled = true\nport = 2222" in core.content.decode()
    assert "logpath = /var/log/nginx/jitsi-meet.error.log" in core.content.decode()
    bridge = rendered(deployment, "jvb1.example.org").file(paths.FAIL2BAN_JAILS)
    assert "[sshd]" in bridge.content.decode() and "nginx" not in bridge.content.decode()
    off = rendered(
        load(REPO / ".env.example", tmp_path / "hosts", tmp_path / ".s2"), "jvb1.example.org"
    )
    assert paths.FAIL2BAN_JAILS not in [f.path for f in off.files]


def test_docker_probes_each_container_at_the_interval_set(tmp_path: Path) -> None:
    """CONTAINER_HEALTH_INTERVAL reaches every healthcheck; the start periods stay (the JVMs'
    longer), so a fault is seen sooner without a slow start counting as one."""
    compose = rendered(site_with(tmp_path, CONTAINER_HEALTH_INTERVAL="5"), "meet.example.org")
    text = compose.file(paths.COMPOSE_FILE).content.decode()
    assert text.count('interval: "5s"') == 4 and 'interval: "30s"' not in text
    assert text.count('start_period: "60s"') == 2 and text.count('start_period: "30s"') == 2
