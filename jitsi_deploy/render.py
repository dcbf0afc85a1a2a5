"""Render the complete set of files one host receives, in memory, deterministically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from . import paths
from .config import Deployment, Site
from .errors import RenderError
from .firewall import Rule, firewall_rules
from .health import HealthSettings
from .inventory import Host
from .proxy import SITE_PATH, SITE_TEMPLATE, Http2Style, ProxySettings
from .templating import TEMPLATES_DIR, render_template

ROOT = ("root", "root")
CONTAINER = (str(paths.CONTAINER_UID), str(paths.CONTAINER_UID))


@dataclass(frozen=True)
class File:
    """A file as it must be on the host.

    + path: absolute remote path.
    + content: the exact bytes.
    + mode, owner, group: what the file must carry.
    + reacts: what has to happen when it changes, e.g. "reload:nginx", "restart:prosody".
    """

    path: str
    content: bytes
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    reacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    path: str
    mode: int = 0o755
    owner: str = "root"
    group: str = "root"


@dataclass(frozen=True)
class Rendered:
    """Everything one host receives."""

    host: Host
    site: Site
    directories: tuple[Directory, ...]
    files: tuple[File, ...]
    firewall: tuple[Rule, ...] = ()

    def file(self, path: str) -> File:
        return next(f for f in self.files if f.path == path)


def render_host(deployment: Deployment, host: Host, nginx_http2: Http2Style = "listen") -> Rendered:
    """Every file of ``host``; ``nginx_http2`` is the HTTP/2 syntax of the host's nginx."""
    site = deployment.sites[host.name]
    context = _context(deployment, host, site)
    rules = firewall_rules(deployment, host)
    files = _stack_files(context) + _kernel_files(context) + _plan_files(host, site, rules)
    files += _health_files(host, site)
    if site.tuning.fail2ban:
        files.append(_fail2ban_jails(host, site))
    if host.role == "core":
        files += [*_prosody_files(context), _nginx_site(proxy_settings(site, nginx_http2))]
    return Rendered(host, site, _directories(host, site), tuple(files), rules)


def proxy_settings(site: Site, nginx_http2: Http2Style = "listen") -> ProxySettings:
    """The host nginx of a core host: the meeting site and, with monitoring, the status site."""
    return ProxySettings(
        meet_host=site.meet_hostname,
        monitor_host=site.monitor_hostname if site.monitoring.enabled else "",
        monitor_allow=site.monitoring.allowed_networks,
        http2_style=nginx_http2,
        # HSTS pins browsers to https for years: not while the certificate is a self-signed one.
        hsts_max_age=0 if site.tls.mode == "selfsigned" else ProxySettings.hsts_max_age,
        fail2ban=site.tuning.fail2ban,
    )


def _fail2ban_jails(host: Host, site: Site) -> File:
    nginx_log = proxy_settings(site).fail2ban_log if host.role == "core" else ""
    context = {"ssh_port": host.port, "nginx_log": nginx_log}
    jails = template("fail2ban/jail.local.j2", context)
    return File(paths.FAIL2BAN_JAILS, jails, reacts=("restart:fail2ban",))


def _nginx_site(proxy: ProxySettings) -> File:
    return File(SITE_PATH, template(SITE_TEMPLATE, {"proxy": proxy}), reacts=("reload:nginx",))


def _context(deployment: Deployment, host: Host, site: Site) -> dict[str, Any]:
    bridges = [h for h in deployment.hosts if h.role == "jvb"]
    return {
        "host": host,
        "site": site,
        "core": deployment.core,
        "bridges": bridges,
        "paths": paths,
        "muc_modules": ["room_policy"],
    }


def template(name: str, context: dict[str, Any]) -> bytes:
    """Render ``name``; a template bug names the template and line instead of a bare traceback."""
    try:
        return render_template(name, **context).encode()
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f"templates/{name}" + (f":{line}" if line else "")
        raise RenderError(f"{where}: {error}") from error


def _stack_files(context: dict[str, Any]) -> list[File]:
    return [
        File(
            paths.COMPOSE_FILE,
            template("compose/docker-compose.yml.j2", context),
            reacts=("up:stack",),
        ),
        File(
            paths.COMPOSE_ENV, template("compose/env.j2", context), mode=0o600, reacts=("up:stack",)
        ),
    ]


def _kernel_files(context: dict[str, Any]) -> list[File]:
    site: Site = context["site"]
    return [
        File(paths.SYSCTL_FILE, template("kernel/sysctl.conf.j2", context), reacts=("sysctl",)),
        File(paths.LIMITS_FILE, template("kernel/limits.conf.j2", context)),
        File(
            paths.DOCKER_LIMITS_DROPIN,
            template("kernel/docker-limits.conf.j2", context),
            reacts=("restart:docker",),
        ),
        File(paths.DOCKER_DAEMON_SETTINGS, _json(docker_daemon_settings(site))),
    ]


def _prosody_files(context: dict[str, Any]) -> list[File]:
    module = (TEMPLATES_DIR / "prosody" / "mod_room_policy.lua").read_bytes()
    settings = template("prosody/room-policy.cfg.lua.j2", {"rooms": context["site"].rooms})
    owner, group = CONTAINER
    return [
        File(
            f"{paths.PROSODY_PLUGINS_DIR}/mod_room_policy.lua",
            module,
            0o644,
            owner,
            group,
            reacts=("restart:prosody",),
        ),
        File(
            f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua",
            settings,
            0o600,
            owner,
            group,
            reacts=("restart:prosody",),
        ),
    ]


def services_of(host: Host, site: Site) -> tuple[str, ...]:
    """The stack's services on ``host``: a bridge host runs the bridge alone."""
    if host.role == "jvb":
        return ("jvb",)
    return ("web", "prosody", "jicofo", "jvb") + (
        ("uptime-kuma",) if site.monitoring.enabled else ()
    )


def health_settings(host: Host, site: Site) -> HealthSettings:
    webhook = site.monitoring.webhook_url
    return HealthSettings(
        compose_project=paths.COMPOSE_PROJECT,
        compose_dir=paths.STACK_DIR,
        check_nginx=host.role == "core",
        # A self-signed certificate is only trusted for the check, which pins the host name.
        tls_insecure=site.tls.mode == "selfsigned",
        fails_before_action=site.monitoring.failures_before_action,
        max_restarts_per_hour=site.monitoring.max_restarts_per_hour,
        webhook_url=webhook,
        webhook_mode="kuma" if "/api/push/" in webhook else "json",
    )


def _health_files(host: Host, site: Site) -> list[File]:
    health = health_settings(host, site)
    context = {
        "health": health,
        "public_hostname": site.meet_hostname,
        "services": list(services_of(host, site)),
    }
    script = (TEMPLATES_DIR.parent / "scripts" / "jitsi-health").read_bytes()
    return [
        File(health.script_path, script, 0o755),
        File(health.config_path, template("health/health.conf.j2", context), 0o600),
        File(paths.HEALTH_CRON, template("health/cron.j2", context)),
        File(paths.HEALTH_LOGROTATE, template("health/logrotate.j2", context)),
    ]


def _plan_files(host: Host, site: Site, rules: tuple[Rule, ...]) -> list[File]:
    plan = template("firewall/rules.j2", {"host": host, "rules": rules})
    files = [File(paths.FIREWALL_PLAN, plan)]
    if host.role == "core":
        files.append(File(paths.MONITORS, _json(monitors(site))))
    return files


def docker_daemon_settings(site: Site) -> dict[str, Any]:
    """The keys this project owns in /etc/docker/daemon.json; the deploy merges them in."""
    settings: dict[str, Any] = {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }
    if site.images.registry_mirror:
        settings["registry-mirrors"] = [site.images.registry_mirror]
    if site.tuning.docker_storage_driver:
        settings["storage-driver"] = site.tuning.docker_storage_driver
    if site.tuning.docker_address_pool:
        settings["default-address-pools"] = [{"base": site.tuning.docker_address_pool, "size": 24}]
    return settings


def monitors(site: Site) -> list[dict[str, Any]]:
    """What Uptime Kuma watches: the site, its certificate, BOSH, the websocket, the monitor."""
    url = site.public_url
    return [
        {"name": "Meeting site", "type": "http", "url": f"{url}/", "expiryNotification": True},
        {
            "name": "BOSH",
            "type": "keyword",
            "url": f"{url}/http-bind",
            "keyword": "It works! Now point your BOSH client to this URL",
        },
        {
            "name": "XMPP websocket",
            "type": "websocket-upgrade",
            "url": f"wss://{site.meet_hostname}/xmpp-websocket",
            "wsSubprotocol": "xmpp",
        },
        {
            "name": "Status site",
            "type": "http",
            "url": f"https://{site.monitor_hostname}/",
            "expiryNotification": True,
        },
    ]


def _directories(host: Host, site: Site) -> tuple[Directory, ...]:
    owner, group = CONTAINER
    dirs = [Directory(paths.STACK_DIR), Directory(paths.ETC_DIR), Directory(paths.CONFIG_DIR)]
    services = ["jvb"] if host.role == "jvb" else ["web", "web/crontabs", "jicofo", "jvb"]
    if host.role == "core":
        services += [
            "prosody",
            "prosody/config",
            "prosody/config/conf.d",
            "prosody/prosody-plugins-custom",
        ]
    dirs += [Directory(f"{paths.CONFIG_DIR}/{name}", 0o755, owner, group) for name in services]
    if host.role == "core" and site.monitoring.enabled:
        dirs.append(Directory(paths.KUMA_DATA_DIR, 0o700))
    if host.role == "core":
        webroot = ProxySettings.acme_webroot  # served on port 80 for ACME HTTP-01 challenges
        dirs += [
            Directory(f"{webroot}{sub}")
            for sub in ("", "/.well-known", "/.well-known/acme-challenge")
        ]
    return tuple(dirs)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def write_tree(rendered: Rendered, build_dir: Path) -> Path:
    """Write the files under ``build_dir/<host>/`` mirroring the remote paths; returns that dir."""
    root = build_dir / rendered.host.name
    for directory in rendered.directories:
        (root / directory.path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for file in rendered.files:
        target = root / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
        target.chmod(file.mode)
    return root
