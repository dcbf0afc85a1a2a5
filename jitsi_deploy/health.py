"""The knobs of the per-host health check (scripts/jitsi-health), rendered into health.conf."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WebhookMode = Literal["json", "kuma"]
WEBHOOK_MODES: tuple[WebhookMode, ...] = ("json", "kuma")
CORE_SERVICES: tuple[str, ...] = ("web", "prosody", "jicofo", "jvb", "uptime-kuma")
JVB_ONLY_SERVICES: tuple[str, ...] = ("jvb",)


@dataclass(frozen=True)
class HealthSettings:
    """What the cron job checks, when it acts and where it keeps its state.

    + fails_before_action: consecutive failing runs (one a minute) before a restart.
    + backoff_base: seconds; after the n-th restart within the hour, the next one waits
      backoff_base * 2**(n-1).
    + max_restarts_per_hour: the breaker; past it the service is left alone and alerted on.
    + webhook_mode: "json" POSTs every action and breaker trip to webhook_url; "kuma" treats it
      as an Uptime Kuma push URL and sends one up/down heartbeat per run.
    + compose_dir: where the stack's compose file lives, to recreate a removed container.
    + check_nginx: core hosts check the site through nginx (https, BOSH, websocket).
    + tls_ca_file / tls_insecure: how curl trusts the site's certificate (e.g. a test CA).
    """

    compose_project: str = "jitsi"
    compose_dir: str = ""
    check_nginx: bool = True
    nginx_port: int = 443
    tls_ca_file: str = ""
    tls_insecure: bool = False
    web_url: str = "http://127.0.0.1:8000/"
    jvb_health_url: str = "http://127.0.0.1:8080/about/health"
    jicofo_health_url: str = "http://127.0.0.1:8888/about/health"
    jicofo_stats_url: str = "http://127.0.0.1:8888/stats"
    min_bridges: int = 1
    bridge_restart: str = "jvb"
    fails_before_action: int = 2
    backoff_base: int = 60
    max_restarts_per_hour: int = 3
    webhook_url: str = ""
    webhook_mode: WebhookMode = "json"
    check_timeout: int = 5
    stop_timeout: int = 10
    check_docker: bool = True
    docker_check_cmd: str = "systemctl is-active --quiet docker"
    docker_restart_cmd: str = "systemctl restart docker"
    nginx_check_cmd: str = "systemctl is-active --quiet nginx"
    nginx_restart_cmd: str = "systemctl restart nginx"
    state_dir: str = "/var/lib/jitsi-health"
    log_file: str = "/var/log/jitsi-health.log"
    log_keep_days: int = 14
    script_path: str = "/usr/local/sbin/jitsi-health"
    config_path: str = "/etc/jitsi-deploy/health.conf"
    cron_schedule: str = "* * * * *"

    def __post_init__(self) -> None:
        if self.webhook_mode not in WEBHOOK_MODES:
            raise ValueError(f"webhook_mode must be one of {WEBHOOK_MODES}: {self.webhook_mode!r}")
        for name in ("fails_before_action", "max_restarts_per_hour", "check_timeout"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1: {getattr(self, name)}")
        if self.backoff_base < 0 or self.stop_timeout < 0:
            raise ValueError("backoff_base and stop_timeout must not be negative")
