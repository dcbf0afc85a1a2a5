"""What the Uptime Kuma wiring renders: no Docker socket, Kuma's own network, the status site's
503 gate, the push URLs each host's health check pings, and the alert settings with their
errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jitsi_deploy.deploy.monitoring import wanted
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model import paths
from jitsi_deploy.monitoring.monitors import push_token
from jitsi_deploy.settings.site import Deployment, KumaSmtp
from tests.unit.sites import EXAMPLE_ENV, rendered, two_hosts


def deploy_with(tmp_path: Path, **changes: str) -> Deployment:
    example = EXAMPLE_ENV.read_text().splitlines()
    lines = [line for line in example if line.partition("=")[0] not in changes]
    env = "\n".join([*lines, *(f"{k}={v}" for k, v in changes.items())]) + "\n"
    (tmp_path / ".env").write_text(env)
    return two_hosts(tmp_path, tmp_path / ".env")


def health_conf(deployment: Deployment, name: str) -> dict[str, str]:
    text = rendered(deployment, name).file(paths.HEALTH_CONFIG).content.decode()
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value.strip("'") for key, value in pairs}


def test_no_container_gets_the_docker_socket(tmp_path: Path) -> None:
    compose = rendered(deploy_with(tmp_path), "meet.example.org").file(paths.COMPOSE_FILE)
    text = compose.content.decode()
    assert "docker.sock" not in text and "/var/run" not in text
    assert "uptime-kuma:" in text


def test_kuma_has_a_network_of_its_own(tmp_path: Path) -> None:
    """Docker drops traffic between two bridge networks: no stack container reaches Kuma past
    nginx's gate, and nginx reaches it on the host's loopback only."""
    compose = rendered(deploy_with(tmp_path), "meet.example.org").file(paths.COMPOSE_FILE)
    document = yaml.safe_load(compose.content)
    networks = {name: set(s["networks"]) for name, s in document["services"].items()}
    assert networks.pop("uptime-kuma") == {"uptime-kuma"}
    assert set(networks) == {"web", "prosody", "jicofo", "jvb"}
    assert all(joined == {"meet.jitsi"} for joined in networks.values())
    assert set(document["networks"]) == {"meet.jitsi", "uptime-kuma"}
    assert document["services"]["uptime-kuma"]["ports"] == ["127.0.0.1:3001:3001"]


def test_the_status_site_answers_503_until_kuma_is_claimed(tmp_path: Path) -> None:
    site = rendered(deploy_with(tmp_path), "meet.example.org").file(paths.NGINX_SITE)
    text = site.content.decode()
    status = text[text.index("server_name status.example.org") :]
    gate = f"if (!-f {paths.KUMA_READY}) {{\n            return 503;"
    assert gate in status
    assert status.index(gate) < status.index("proxy_pass")
    meet = text[: text.index("server_name status.example.org")]
    assert paths.KUMA_READY not in meet  # the meeting site is never gated


def test_health_checks_ping_their_push_monitor(tmp_path: Path) -> None:
    deployment = deploy_with(tmp_path)
    secret = deployment.sites["meet.example.org"].secrets["KUMA_ADMIN_PASSWORD"]
    core = health_conf(deployment, "meet.example.org")
    token = push_token(secret, "meet.example.org")
    assert core["WEBHOOK_URL"] == f"http://127.0.0.1:3001/api/push/{token}"
    assert core["WEBHOOK_MODE"] == "kuma"
    bridge = health_conf(deployment, "jvb1.example.org")
    token = push_token(secret, "jvb1.example.org")
    assert bridge["WEBHOOK_URL"] == f"https://status.example.org/api/push/{token}"
    assert bridge["WEBHOOK_MODE"] == "kuma"


def test_health_checks_push_each_container_and_watch_kumas_admin(tmp_path: Path) -> None:
    deployment = deploy_with(tmp_path, HEALTH_WEBHOOK_URL="https://hooks.example.org/x")
    secret = deployment.sites["meet.example.org"].secrets["KUMA_ADMIN_PASSWORD"]
    text = rendered(deployment, "meet.example.org").file(paths.HEALTH_CONFIG).content.decode()
    pushes = text[text.index("CONTAINER_PUSHES=(") :].split(")")[0].splitlines()[1:]
    assert [line.strip().strip("'") for line in pushes] == [
        f"{s} http://127.0.0.1:3001/api/push/{push_token(secret, 'meet.example.org', s)}"
        for s in ("web", "prosody", "jicofo", "jvb")
    ]  # with a webhook of one's own too: containers report to Kuma all the same
    core = health_conf(deployment, "meet.example.org")
    assert (core["KUMA_URL"], core["KUMA_READY"]) == ("http://127.0.0.1:3001", paths.KUMA_READY)
    bridge = rendered(deployment, "jvb1.example.org").file(paths.HEALTH_CONFIG).content.decode()
    token = push_token(secret, "jvb1.example.org", "jvb")
    assert f"'jvb https://status.example.org/api/push/{token}'" in bridge
    assert health_conf(deployment, "jvb1.example.org")["KUMA_URL"] == ""  # no Kuma of its own
    off = rendered(deploy_with(tmp_path, ENABLE_MONITORING="0"), "meet.example.org")
    assert "CONTAINER_PUSHES=(\n)" in off.file(paths.HEALTH_CONFIG).content.decode()
    assert "BRIDGE_PUSHES=(\n)" in off.file(paths.HEALTH_CONFIG).content.decode()


def test_the_core_reports_each_bridge_it_expects_in_jicofos_brewery(tmp_path: Path) -> None:
    """Its own and the [jvb] host's, by nickname, each to a push monitor of its own; a bridge
    host has no jicofo to ask."""
    deployment = deploy_with(tmp_path)
    secret = deployment.sites["meet.example.org"].secrets["KUMA_ADMIN_PASSWORD"]
    text = rendered(deployment, "meet.example.org").file(paths.HEALTH_CONFIG).content.decode()
    pushes = text[text.index("BRIDGE_PUSHES=(") :].split(")")[0].splitlines()[1:]
    token = {b: push_token(secret, "meet.example.org", f"bridge:{b}") for b in NICKNAMES}
    assert [line.strip().strip("'") for line in pushes] == [
        f"{b} http://127.0.0.1:3001/api/push/{token[b]}" for b in NICKNAMES
    ]
    assert health_conf(deployment, "meet.example.org")["JICOFO_DEBUG_URL"] == (
        "http://127.0.0.1:8888/debug"
    )
    bridge = rendered(deployment, "jvb1.example.org").file(paths.HEALTH_CONFIG).content.decode()
    assert "BRIDGE_PUSHES=(\n)" in bridge
    kuma = wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None  # the monitors the core provisions take the very same tokens
    named = {m.name: m.push_token for m in kuma.monitors}
    for b in NICKNAMES:
        assert named[f"jitsi-deploy: meet.example.org: bridge {b} in jicofo"] == token[b]


NICKNAMES = ("meet.example.org", "jvb1.example.org")


def test_a_webhook_of_ones_own_wins_and_no_monitoring_means_no_push(tmp_path: Path) -> None:
    own = deploy_with(tmp_path, HEALTH_WEBHOOK_URL="https://hooks.example.org/x")
    conf = health_conf(own, "meet.example.org")
    assert (conf["WEBHOOK_URL"], conf["WEBHOOK_MODE"]) == ("https://hooks.example.org/x", "json")
    off = deploy_with(tmp_path, ENABLE_MONITORING="0")
    assert health_conf(off, "jvb1.example.org")["WEBHOOK_URL"] == ""


def test_alert_settings_are_read(tmp_path: Path) -> None:
    deployment = deploy_with(
        tmp_path,
        KUMA_NOTIFY_WEBHOOK_URL="https://hooks.example.org/kuma",
        KUMA_SMTP_HOST="smtp.example.org",
        KUMA_SMTP_PORT="465",
        KUMA_SMTP_USER="kuma@example.org",
        KUMA_SMTP_PASSWORD="s3cret-#!",
        KUMA_SMTP_FROM="kuma@example.org",
        KUMA_SMTP_TO="ops@example.org, oncall@example.org",
    )
    monitoring = deployment.sites["meet.example.org"].monitoring
    assert monitoring.kuma_webhook_url == "https://hooks.example.org/kuma"
    assert monitoring.kuma_smtp == KumaSmtp(
        "smtp.example.org", 465, "kuma@example.org", "s3cret-#!", "kuma@example.org",
        ("ops@example.org", "oncall@example.org"),
    )  # fmt: skip
    assert deploy_with(tmp_path).sites["meet.example.org"].monitoring.kuma_smtp is None


@pytest.mark.parametrize(
    ("changes", "key", "fix"),
    [
        ({"KUMA_NOTIFY_WEBHOOK_URL": "ftp://x.example.org"}, "KUMA_NOTIFY_WEBHOOK_URL", "URL"),
        ({"KUMA_SMTP_HOST": "smtp..example", "KUMA_SMTP_FROM": "a@example.org",
          "KUMA_SMTP_TO": "b@example.org"}, "KUMA_SMTP_HOST", "not a host name"),
        ({"KUMA_SMTP_PORT": "70000"}, "KUMA_SMTP_PORT", "from 1 to 65535"),
        ({"KUMA_SMTP_TO": "b@example.org"}, "KUMA_SMTP_TO", "KUMA_SMTP_HOST is empty"),
        ({"KUMA_SMTP_HOST": "smtp.example.org", "KUMA_SMTP_TO": "b@example.org"},
         "KUMA_SMTP_FROM", "is required"),
        ({"KUMA_SMTP_HOST": "smtp.example.org", "KUMA_SMTP_FROM": "a@example.org"},
         "KUMA_SMTP_TO", "is required"),
        ({"KUMA_SMTP_HOST": "smtp.example.org", "KUMA_SMTP_FROM": "a@example.org",
          "KUMA_SMTP_TO": "b@example.org, nobody"}, "KUMA_SMTP_TO", "'nobody' is not an e-mail"),
        ({"KUMA_SMTP_HOST": "smtp.example.org", "KUMA_SMTP_FROM": "a@example.org",
          "KUMA_SMTP_TO": "b@example.org", "KUMA_SMTP_USER": "me",
          "KUMA_SMTP_PASSWORD": "two words"}, "KUMA_SMTP_PASSWORD", "without spaces"),
        ({"KUMA_SMTP_HOST": "smtp.example.org", "KUMA_SMTP_FROM": "a@example.org",
          "KUMA_SMTP_TO": "b@example.org", "KUMA_SMTP_PASSWORD": "pw"},
         "KUMA_SMTP_PASSWORD", "KUMA_SMTP_USER is empty"),
    ],
)  # fmt: skip
def test_bad_alert_settings_name_the_key_and_the_fix(
    tmp_path: Path, changes: dict[str, str], key: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as error:
        deploy_with(tmp_path, **changes)
    assert f"{key}:" in str(error.value) and fix in str(error.value), str(error.value)
