"""The knobs of the per-host health check (scripts/jitsi-health), rendered into health.conf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..monitoring.monitors import bridge_subject, push_token, push_url
from ..settings.site import Site
from . import paths
from .brewery import JICOFO_DEBUG_URL
from .services import KUMA_ADMIN_PASSWORD, KUMA_PORT, UPTIME_KUMA, Service
from .turn import TURN_PORT, TURN_SECRET, TURNS_PORT

# The subject of the TURN server's push monitor (monitoring/monitors.py).
TURN_MONITOR = "turn"

WebhookMode = Literal["json", "kuma"]
WEBHOOK_MODES: tuple[WebhookMode, ...] = ("json", "kuma")


@dataclass(frozen=True)
class HealthSettings:
    """What the cron job checks, when it acts and where it keeps its state.

    + fails_before_action: consecutive failing runs (one a minute) before a restart.
    + backoff_base: seconds; after the n-th restart within the hour, the next one waits
      backoff_base * 2**(n-1).
    + max_restarts_per_hour: the breaker; past it the service is left alone and alerted on.
    + webhook_mode: "json" POSTs every action and breaker trip to webhook_url; "kuma" treats it
      as an Uptime Kuma push URL and sends one up/down heartbeat per run.
    + container_pushes: "SERVICE URL" per container: each run pushes the container's state and
      its checks' outcome to that Kuma push URL (Kuma holds no Docker socket to look itself).
    + bridge_pushes: "NICKNAME URL" per bridge the core's jicofo should see: each run pushes
      whether jicofo's brewery (jicofo_debug_url) has it, and whether it drains.
    + kuma_url: the local Kuma the host runs; each run asks it whether it needs set-up (its data
      was reset) and then removes kuma_ready, nginx's mark that opens the status site.
    + compose_dir: where the stack's compose file lives, to recreate a removed container.
    + armed_file: runs do nothing until it exists; the deploy makes it once the stack is up,
      so a first deploy's runs never report services whose images are still loading.
    + drained_file: made by `fab drain`: the bridge is stopped on purpose, so it is neither
      checked nor restarted until the next deploy starts it and removes the file.
    + check_nginx: core hosts check the site through nginx (https, BOSH, websocket).
    + tls_ca_file / tls_insecure: how curl trusts the site's certificate (e.g. a test CA).
    + turn_probes: "TRANSPORT PORT" per way into the core's TURN server (none without one),
      each allocated as ``turn_name`` with credentials from ``turn_secret``, by the project's
      TURN client under ``turn_library``; ``turn_push``: the TURN monitor's Kuma push URL.
    """

    compose_project: str = "jitsi"
    compose_dir: str = ""
    check_nginx: bool = True
    nginx_port: int = 443
    tls_ca_file: str = ""
    tls_insecure: bool = False
    # One, not the inventory's count: the check acts, and its remedy is restarting this host's
    # own bridge, which would end its meetings for nothing when a remote bridge is the one
    # missing. `fab smoke` and `fab status` report a missing bridge against the inventory.
    min_bridges: int = 1
    fails_before_action: int = 2
    backoff_base: int = 60
    max_restarts_per_hour: int = 3
    webhook_url: str = ""
    webhook_mode: WebhookMode = "json"
    container_pushes: tuple[str, ...] = ()
    bridge_pushes: tuple[str, ...] = ()
    jicofo_debug_url: str = JICOFO_DEBUG_URL
    kuma_url: str = ""
    kuma_ready: str = paths.KUMA_READY
    check_timeout: int = 5
    stop_timeout: int = 10
    check_docker: bool = True
    docker_check_cmd: str = "systemctl is-active --quiet docker"
    docker_restart_cmd: str = "systemctl restart docker"
    nginx_check_cmd: str = "systemctl is-active --quiet nginx"
    nginx_restart_cmd: str = "systemctl restart nginx"
    turn_probes: tuple[str, ...] = ()
    turn_name: str = ""
    turn_secret: str = ""
    turn_library: str = paths.HOST_BACKUP_LIBRARY
    turn_push: str = ""
    turn_restart_cmd: str = "systemctl restart coturn"
    state_dir: str = paths.HEALTH_STATE_DIR
    armed_file: str = paths.HEALTH_ARMED
    drained_file: str = paths.BRIDGE_DRAINED
    log_file: str = paths.HEALTH_LOG
    log_keep_days: int = 14
    script_path: str = paths.HEALTH_SCRIPT
    config_path: str = paths.HEALTH_CONFIG
    cron_schedule: str = "* * * * *"

    def __post_init__(self) -> None:
        if self.webhook_mode not in WEBHOOK_MODES:
            raise ValueError(f"webhook_mode must be one of {WEBHOOK_MODES}: {self.webhook_mode!r}")
        for name in ("fails_before_action", "max_restarts_per_hour", "check_timeout"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1: {getattr(self, name)}")
        if self.backoff_base < 0 or self.stop_timeout < 0:
            raise ValueError("backoff_base and stop_timeout must not be negative")


def health_settings(
    site: Site,
    role: str,
    host_name: str = "",
    services: Sequence[str] = (),
    bridges: Sequence[str] = (),
) -> HealthSettings:
    """``services``: the names of the services the host runs; ``bridges``: the nicknames of
    the bridges its jicofo should see (a core's)."""
    webhook = site.monitoring.webhook_url or kuma_push_url(site, role, host_name)
    pushes = ((s, kuma_push_url(site, role, host_name, s)) for s in pushed_services(services))
    about = ((b, kuma_push_url(site, role, host_name, bridge_subject(b))) for b in bridges)
    return HealthSettings(
        compose_project=paths.COMPOSE_PROJECT,
        compose_dir=paths.STACK_DIR,
        check_nginx=role == "core",
        # A self-signed certificate is only trusted for the check, which pins the host name.
        tls_insecure=site.tls.mode == "selfsigned",
        fails_before_action=site.monitoring.failures_before_action,
        max_restarts_per_hour=site.monitoring.max_restarts_per_hour,
        webhook_url=webhook,
        webhook_mode="kuma" if "/api/push/" in webhook else "json",
        container_pushes=tuple(f"{service} {url}" for service, url in pushes if url),
        bridge_pushes=tuple(f"{bridge} {url}" for bridge, url in about if url),
        kuma_url=KUMA_LOCAL_URL if UPTIME_KUMA.name in services else "",
        **_turn(site, role, host_name),
    )


def _turn(site: Site, role: str, host_name: str) -> dict[str, object]:
    """The TURN probes of a core with a TURN server: over UDP on 3478, over TLS on 443."""
    if role != "core" or not site.turn.enabled:
        return {}
    return {
        "turn_probes": (f"udp {TURN_PORT}", f"tls {TURNS_PORT}"),
        "turn_name": site.turn.hostname,
        "turn_secret": site.secrets[TURN_SECRET.name],
        "turn_push": kuma_push_url(site, role, host_name, TURN_MONITOR),
    }


KUMA_LOCAL_URL = f"http://127.0.0.1:{KUMA_PORT}"


def kuma_push_url(site: Site, role: str, host_name: str, service: str = "") -> str:
    """Where the host's health check pings its push monitor in Kuma (deploy/monitoring.py), or
    with ``service`` that of one of its containers: Kuma's loopback port on the core host, the
    public status site from a bridge. "" without monitoring, or without a status site for a
    bridge to reach."""
    if not (site.monitoring.enabled and host_name):
        return ""
    token = push_token(site.secrets[KUMA_ADMIN_PASSWORD.name], host_name, service)
    if role == "core":
        return push_url(KUMA_LOCAL_URL, token)
    return push_url(f"https://{site.monitor_hostname}", token) if site.monitor_hostname else ""


def pushed_services(services: Sequence[str]) -> list[str]:
    """The services whose container state the health check pushes to Kuma: all but Kuma's own
    (a Kuma that is down receives nothing; the status site's monitor covers it)."""
    return [service for service in services if service != UPTIME_KUMA.name]


def check_entries(services: list[Service]) -> list[str]:
    """health.conf's SERVICE_CHECKS: "KIND NAME SERVICE RESTARTS [URL]" per check."""
    return [
        " ".join(filter(None, (c.kind, c.name, s.name, c.restarts or s.name, c.url)))
        for s in services
        for c in s.health
    ]


def restart_after_entries(services: list[Service]) -> list[str]:
    """health.conf's RESTART_AFTER: "SERVICE DEPENDANT..." for the services others follow."""
    entries = []
    for service in services:
        dependants = [s.name for s in services if service.name in s.restarts_after]
        if dependants:
            entries.append(" ".join([service.name, *dependants]))
    return entries
