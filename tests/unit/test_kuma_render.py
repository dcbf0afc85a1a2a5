"""What the Uptime Kuma wiring renders: the socket mount, the status site's 503 gate, the push
URL each host's health check pings, and the alert settings with their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_kuma_gets_the_docker_socket_read_only(tmp_path: Path) -> None:
    compose = rendered(deploy_with(tmp_path), "meet.example.org").file(paths.COMPOSE_FILE)
    text = compose.content.decode()
    kuma = text[text.index("uptime-kuma:") :]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in kuma
    assert text.count("/var/run/docker.sock:/var/run/docker.sock") == 1  # Kuma only


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
