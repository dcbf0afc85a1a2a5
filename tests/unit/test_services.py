"""Services as data: everything per service is derived from its description, and the compose
file gives the Jitsi images what their runtime contract needs (tests/standin/CONTRACT.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model import paths
from jitsi_deploy.model.health import check_entries
from jitsi_deploy.model.services import (
    SERVICES,
    ConfigFile,
    HealthCheck,
    Service,
    all_secrets,
    heap_mib,
    memory_keys,
)
from jitsi_deploy.render.host import render_host
from jitsi_deploy.settings.secrets import Secret
from jitsi_deploy.settings.site import Deployment, MemoryKey, Spec, load
from jitsi_deploy.steps.images import wanted_images

REPO = Path(__file__).resolve().parents[2]
CORE_ONLY = "[core]\nmeet.example.org address=203.0.113.10\n"
WITH_BRIDGE = CORE_ONLY + "[jvb]\njvb1.example.org address=203.0.113.11\n"

# A made-up service, described in the test alone: no product code knows of it.
EXPORTER = Service(
    "exporter",
    lambda images: "example.org/exporter:1.2.3",
    MemoryKey("EXPORTER_MEMORY_LIMIT", "256m", "memory limit of the exporter"),
    ports=lambda placement: ["127.0.0.1:9100:9100"],
    environment=lambda placement: {"SITE": placement.site.meet_hostname},
    secrets=(Secret("EXPORTER_TOKEN", lambda: "generated-token-value"),),
    directories=("exporter",),
    files=(
        ConfigFile(
            f"{paths.CONFIG_DIR}/exporter/room-policy.cfg.lua", "prosody/room-policy.cfg.lua.j2"
        ),
    ),
    health=(HealthCheck("exporter-up", "http", "http://127.0.0.1:9100/ready"),),
)


def deployment(
    tmp_path: Path, inventory: str, catalog: tuple[Service, ...] = SERVICES
) -> Deployment:
    (tmp_path / "hosts").write_text(inventory)
    spec = Spec(memory_keys(catalog), all_secrets(catalog))
    return load(REPO / ".env.example", tmp_path / "hosts", tmp_path / ".secrets.env", spec)


def core_files(deployment: Deployment, catalog: tuple[Service, ...] = SERVICES):
    return render_host(deployment, deployment.hosts[0], catalog=catalog)


def text(rendered, path: str) -> str:
    return rendered.file(path).content.decode()


def test_a_new_service_is_one_description(tmp_path: Path) -> None:
    catalog = (*SERVICES, EXPORTER)
    rendered = core_files(deployment(tmp_path, CORE_ONLY, catalog), catalog)
    compose = text(rendered, paths.COMPOSE_FILE)
    assert '\n  exporter:\n    image: "example.org/exporter:1.2.3"' in compose
    assert '"127.0.0.1:9100:9100"' in compose and 'SITE: "meet.example.org"' in compose
    assert 'EXPORTER_TOKEN: "${EXPORTER_TOKEN}"' in compose
    assert 'mem_limit: "256m"' in compose
    assert "EXPORTER_TOKEN=generated-token-value" in text(rendered, paths.COMPOSE_ENV)
    assert f"{paths.CONFIG_DIR}/exporter" in [d.path for d in rendered.directories]
    config = rendered.file(f"{paths.CONFIG_DIR}/exporter/room-policy.cfg.lua")
    assert config.reacts == ("restart:exporter",)
    assert "example.org/exporter:1.2.3" in wanted_images(rendered)
    health = text(rendered, paths.HEALTH_CONFIG)
    assert "'http exporter-up exporter exporter http://127.0.0.1:9100/ready'" in health
    assert "web prosody jicofo jvb uptime-kuma exporter" in health
    assert "generated-token-value" in (tmp_path / ".secrets.env").read_text()


def test_the_jitsi_images_get_an_exec_run_and_their_volumes(tmp_path: Path) -> None:
    compose = text(core_files(deployment(tmp_path, CORE_ONLY)), paths.COMPOSE_FILE)
    assert compose.count('- "/run:size=16M,mode=1750,exec"') == 4  # not uptime-kuma
    assert f'"{paths.CONFIG_DIR}/storage/prosody:/var/lib/prosody:Z"' in compose
    assert "crontabs" not in compose


def test_jicofo_opens_its_health_endpoint_and_rest_port(tmp_path: Path) -> None:
    compose = text(core_files(deployment(tmp_path, CORE_ONLY)), paths.COMPOSE_FILE)
    jicofo = compose.split("\n  jicofo:\n")[1].split("\n  jvb:\n")[0]
    assert 'JICOFO_ENABLE_HEALTH_CHECKS: "1"' in jicofo and 'JICOFO_ENABLE_REST: "1"' in jicofo


def test_the_jvm_heaps_fit_in_their_memory_limits(tmp_path: Path) -> None:
    compose = text(core_files(deployment(tmp_path, CORE_ONLY)), paths.COMPOSE_FILE)
    assert 'VIDEOBRIDGE_MAX_MEMORY: "2304m"' in compose  # 3g limit
    assert 'JICOFO_MAX_MEMORY: "768m"' in compose  # 1g limit
    assert heap_mib("768m") == 512


def test_a_jvm_limit_too_small_to_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        (REPO / ".env.example").read_text().replace("JVB_MEMORY_LIMIT=3g", "JVB_MEMORY_LIMIT=512m")
    )
    (tmp_path / "hosts").write_text(CORE_ONLY)
    spec = Spec(memory_keys(), all_secrets())
    with pytest.raises(ConfigError, match="JVB_MEMORY_LIMIT: 512m is too little to run in"):
        load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env", spec)


def test_5222_is_published_only_for_remote_bridges(tmp_path: Path) -> None:
    alone = text(core_files(deployment(tmp_path, CORE_ONLY)), paths.COMPOSE_FILE)
    assert "5222" not in alone
    with_bridge = text(core_files(deployment(tmp_path, WITH_BRIDGE)), paths.COMPOSE_FILE)
    assert '"5222:5222"' in with_bridge


def test_a_bridge_host_gets_only_what_the_bridge_needs(tmp_path: Path) -> None:
    site = deployment(tmp_path, WITH_BRIDGE)
    bridge = render_host(site, site.hosts[1])
    compose = text(bridge, paths.COMPOSE_FILE)
    env = text(bridge, paths.COMPOSE_ENV)
    assert "JICOFO_AUTH_PASSWORD" not in env and "JVB_AUTH_PASSWORD=" in env
    assert "PUBLIC_URL" not in compose and "COLIBRI_REST_ENABLED" not in compose
    assert 'XMPP_SERVER: "203.0.113.10"' in compose


def test_health_checks_come_from_the_descriptions() -> None:
    assert check_entries([s for s in SERVICES if s.name in ("jicofo", "jvb")]) == [
        "http jicofo-health jicofo jicofo http://127.0.0.1:8888/about/health",
        "bridges jicofo-bridges jicofo jvb http://127.0.0.1:8888/stats",
        "http jvb-health jvb jvb http://127.0.0.1:8080/about/health",
    ]


def test_a_private_network_between_core_and_bridge_is_one_field(tmp_path: Path) -> None:
    """With private_ip, the bridge dials the core's and the core admits the bridge's: the
    address a bridge connects from is the one the rule names (not its public or SSH one)."""
    hosts = (
        "[core]\nmeet.example.org address=203.0.113.10 private_ip=10.0.0.10\n"
        "[jvb]\njvb1.example.org address=192.0.2.11 public_ip=203.0.113.11 private_ip=10.0.0.11\n"
    )
    site = deployment(tmp_path, hosts)
    script = text(core_files(site), paths.DOCKER_USER_SCRIPT)
    assert "-s 10.0.0.11 -j RETURN" in script and "203.0.113.11 -j" not in script
    bridge = render_host(site, site.hosts[1])
    compose = text(bridge, paths.COMPOSE_FILE)
    assert 'XMPP_SERVER: "10.0.0.10"' in compose
    assert 'JVB_ADVERTISE_IPS: "203.0.113.11"' in compose


def test_only_the_bridges_may_reach_the_published_xmpp_port(tmp_path: Path) -> None:
    """Docker's NAT comes before ufw: the DOCKER-USER rules are what limits 5222."""
    site = deployment(tmp_path, WITH_BRIDGE)
    rendered = core_files(site)
    script = text(rendered, paths.DOCKER_USER_SCRIPT)
    rules = [line.strip() for line in script.splitlines() if line.strip().startswith('echo "-A')]
    match = "-m conntrack --ctstate DNAT --ctdir ORIGINAL --ctorigdstport 5222"
    assert rules == [
        f'echo "-A $chain -p tcp {match} -s 203.0.113.11 -j RETURN"',
        f'echo "-A $chain -p tcp {match} -j DROP"',
    ]
    unit = text(rendered, paths.DOCKER_USER_UNIT)
    assert "PartOf=docker.service" in unit and "WantedBy=docker.service" in unit
    assert rendered.file(paths.DOCKER_USER_UNIT).reacts == ("docker-user",)
    alone = core_files(deployment(tmp_path, CORE_ONLY))
    assert 'echo "-A' not in text(alone, paths.DOCKER_USER_SCRIPT)
