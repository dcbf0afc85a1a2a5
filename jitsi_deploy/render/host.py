"""Render the complete set of files one host receives, in memory, deterministically."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from ..errors import RenderError
from ..model import paths
from ..model.backup_job import LIBRARY, backup_job
from ..model.brewery import expected_bridges
from ..model.docker_daemon import docker_daemon_settings
from ..model.firewall_rules import (
    Rule,
    closed_to_others,
    docker_published_rules,
    firewall_rules,
)
from ..model.health import check_entries, health_settings, restart_after_entries
from ..model.managed import CONTAINER_USER, ROOT, Absent, Directory, File
from ..model.proxy import Http2Style, ProxySettings, proxy_settings
from ..model.services import (
    JICOFO,
    SERVICES,
    ConfigFile,
    Placement,
    Service,
    directories,
    placement_of,
    services_at,
)
from ..model.turn import (
    COTURN_GROUP,
    DENIED_PEERS,
    SITE_BEHIND_SPLIT,
    TLS_END,
    TURN_PROBE_LIBRARY,
    TurnServer,
    turn_server,
)
from ..settings.inventory import Host
from ..settings.site import Deployment, Site
from .compose import compose_file, env_file
from .templating import TEMPLATES_DIR, render_template

SCRIPTS_DIR = TEMPLATES_DIR.parent / "scripts"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Where the nightly backup imports the project's archive code from, as the package lays it out.
LIBRARY_PACKAGE = f"{paths.HOST_BACKUP_LIBRARY}/jitsi_deploy"


@dataclass(frozen=True)
class Rendered:
    """Everything one host receives, and the services it runs."""

    host: Host
    site: Site
    services: tuple[Service, ...]
    directories: tuple[Directory, ...]
    files: tuple[File, ...]
    firewall: tuple[Rule, ...] = ()
    absent: tuple[Absent, ...] = ()

    def file(self, path: str) -> File:
        return next(f for f in self.files if f.path == path)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)


def render_host(
    deployment: Deployment,
    host: Host,
    nginx_http2: Http2Style = "listen",
    catalog: tuple[Service, ...] = SERVICES,
    addresses: tuple[str, ...] = (),
) -> Rendered:
    """Every file of ``host``; ``nginx_http2`` is the HTTP/2 syntax of the host's nginx,
    ``catalog`` the services to choose from, ``addresses`` the host's own (its facts)."""
    placement = placement_of(deployment, host)
    services = services_at(placement, catalog)
    site = placement.site
    rules = firewall_rules(deployment, host)
    files = [*_stack_files(placement, services), *_kernel_files(site)]
    files += [*_plan_files(host, rules), *_health_files(placement, services)]
    files += _backup_files(site, host)
    turn = turn_server(placement, addresses)
    files += _library_files(LIBRARY + (TURN_PROBE_LIBRARY if turn else ()))
    if site.tuning.fail2ban:
        files.append(_fail2ban_jails(host, site))
    proxy = proxy_settings(site, nginx_http2)
    if host.role == "core":
        files.append(_nginx_site(proxy))
    if turn:
        files += _turn_files(turn, proxy)
    folders = _directories(host, services, files)
    absent = (*_absent_config_files(site, services), *(() if turn else TURN_ABSENT))
    return Rendered(host, site, tuple(services), folders, tuple(files), rules, absent)


def template(name: str, context: dict[str, Any]) -> bytes:
    """Render ``name``; a template bug names the template and line instead of a bare traceback."""
    try:
        return render_template(name, **context).encode()
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f"templates/{name}" + (f":{line}" if line else "")
        raise RenderError(f"{where}: {error}") from error


def _stack_files(placement: Placement, services: list[Service]) -> list[File]:
    stack = ("up:stack",)
    files = [
        File(paths.COMPOSE_FILE, compose_file(placement, services).encode(), reacts=stack),
        File(paths.COMPOSE_ENV, env_file(placement, services).encode(), 0o600, reacts=stack),
    ]
    wanted = [(s, f) for s in services for f in s.files if f.when(placement.site)]
    return files + [_config_file(s, f, placement) for s, f in wanted]


def _absent_config_files(site: Site, services: list[Service]) -> list[Absent]:
    """The config files of a feature the site has switched off: removed, and the service
    restarted without them."""
    return [
        Absent(f.path, (f"restart:{s.name}",))
        for s in services
        for f in s.files
        if not f.when(site)
    ]


def _config_file(service: Service, config: ConfigFile, placement: Placement) -> File:
    if config.make:
        content = config.make(placement)
    elif config.source.endswith(".j2"):
        context = {"host": placement.host, "site": placement.site, "paths": paths}
        content = template(config.source, {**context, **config.values})
    else:
        content = (TEMPLATES_DIR / config.source).read_bytes()
    # The Jitsi images read their config as their user; the others' files stay root's.
    owner = CONTAINER_USER if service.jitsi_contract else ROOT
    return File(config.path, content, config.mode, owner, owner, (f"restart:{service.name}",))


def _kernel_files(site: Site) -> list[File]:
    context = {"site": site}
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


def _plan_files(host: Host, rules: tuple[Rule, ...]) -> list[File]:
    plan = template("firewall/rules.j2", {"host": host, "rules": rules})
    files = [File(paths.FIREWALL_PLAN, plan)]
    if host.role == "core":
        files += _docker_user_files(host, rules)
    return files


def _docker_user_files(host: Host, rules: tuple[Rule, ...]) -> list[File]:
    limited = docker_published_rules(rules)
    context = {
        "host": host,
        "rules": limited,
        "closed": closed_to_others(limited),
        "chain": paths.DOCKER_USER_CHAIN,
        "script": paths.DOCKER_USER_SCRIPT,
        "unit": Path(paths.DOCKER_USER_UNIT).name,
    }
    reacts = ("docker-user",)
    return [
        File(
            paths.DOCKER_USER_SCRIPT,
            template("firewall/docker-user.sh.j2", context),
            0o755,
            reacts=reacts,
        ),
        File(
            paths.DOCKER_USER_UNIT,
            template("firewall/docker-user.service.j2", context),
            reacts=reacts,
        ),
    ]


def _health_files(placement: Placement, services: list[Service]) -> list[File]:
    names = [s.name for s in services]
    host = placement.host
    bridges = expected_bridges(placement) if JICOFO in services else ()
    health = health_settings(placement.site, host.role, host.name, names, bridges)
    context = {
        "health": health,
        "public_hostname": placement.site.meet_hostname,
        "services": services,
        "checks": check_entries(services),
        "restart_after": restart_after_entries(services),
    }
    script = (SCRIPTS_DIR / "jitsi-health").read_bytes()
    return [
        File(health.script_path, script, 0o755),
        File(health.config_path, template("health/health.conf.j2", context), 0o600),
        File(paths.HEALTH_CRON, template("health/cron.j2", context)),
        File(paths.HEALTH_LOGROTATE, template("health/logrotate.j2", context)),
    ]


def _backup_files(site: Site, host: Host) -> list[File]:
    """The nightly backup: its script, the archive code it imports, settings and cron entry."""
    context = {
        "backup": site.host_backup,
        "script": paths.HOST_BACKUP_SCRIPT,
        "config": paths.HOST_BACKUP_CONFIG,
        "log": paths.HOST_BACKUP_LOG,
    }
    return [
        File(paths.HOST_BACKUP_SCRIPT, (SCRIPTS_DIR / "jitsi-backup").read_bytes(), 0o755),
        File(paths.HOST_BACKUP_CONFIG, backup_job(site, host).config(), 0o600),
        File(paths.HOST_BACKUP_CRON, template("backup/cron.j2", context)),
    ]


def _library_files(modules: tuple[str, ...]) -> list[File]:
    """The project's modules the host runs, as the package lays them out: the nightly backup's
    archive code, and on a TURN server the TURN client of the health check's probes."""
    return [
        File(f"{LIBRARY_PACKAGE}/{module}", (PACKAGE_DIR / module).read_bytes())
        for module in dict.fromkeys(modules)
    ]


def _fail2ban_jails(host: Host, site: Site) -> File:
    nginx_log = proxy_settings(site).fail2ban_log if host.role == "core" else ""
    context = {"ssh_port": host.port, "nginx_log": nginx_log}
    jails = template("fail2ban/jail.local.j2", context)
    return File(paths.FAIL2BAN_JAILS, jails, reacts=("restart:fail2ban",))


def _nginx_site(proxy: ProxySettings) -> File:
    return File(paths.NGINX_SITE, render_site(proxy).encode(), reacts=("reload:nginx",))


SITE_TEMPLATE = "nginx/jitsi.conf.j2"


def render_site(proxy: ProxySettings) -> str:
    return render_template(SITE_TEMPLATE, proxy=proxy)


def _turn_files(turn: TurnServer, proxy: ProxySettings) -> list[File]:
    """coturn's settings and unit drop-in, and nginx's split of 443 between site and TURN."""
    settings = template("turn/turnserver.conf.j2", {"turn": turn, "denied": DENIED_PEERS})
    dropin = template("turn/coturn-dropin.conf.j2", {"config": paths.TURN_CONFIG})
    split = {
        "proxy": proxy,
        "turn_end": TLS_END,
        "site": SITE_BEHIND_SPLIT,
        "coturn": f"127.0.0.1:{turn.port}",
    }
    reacts = ("turn",)
    return [
        # The shared secret: root's to write, coturn's user's alone to read.
        File(paths.TURN_CONFIG, settings, 0o640, group=COTURN_GROUP, reacts=reacts),
        File(paths.COTURN_DROPIN, dropin, reacts=reacts),
        File(paths.NGINX_STREAM, template(STREAM_TEMPLATE, split), reacts=("reload:nginx",)),
    ]


STREAM_TEMPLATE = "nginx/jitsi-stream.conf.j2"
# What a TURN server leaves behind once TURN_HOSTNAME is emptied: coturn stops, nginx gives 443
# back to the site.
TURN_ABSENT = (
    Absent(paths.TURN_CONFIG, ("turn:off",)),
    Absent(paths.COTURN_DROPIN, ("turn:off",)),
    Absent(paths.NGINX_STREAM, ("reload:nginx",)),
)


def _directories(host: Host, services: list[Service], files: list[File]) -> tuple[Directory, ...]:
    dirs = [Directory(paths.STACK_DIR), Directory(paths.ETC_DIR), Directory(paths.CONFIG_DIR)]
    dirs.append(Directory(paths.HEALTH_STATE_DIR))  # holds the lock the deploy shares with it
    dirs += [*map(Directory, _library_folders(files)), Directory(paths.HOST_BACKUP_DIR, 0o700)]
    dirs += [d for service in services for d in directories(service)]
    if host.role == "core":
        webroot = paths.ACME_WEBROOT  # served on port 80 for ACME HTTP-01 challenges
        dirs += [
            Directory(f"{webroot}{sub}")
            for sub in ("", "/.well-known", "/.well-known/acme-challenge")
        ]
    return tuple(dict.fromkeys(dirs))


def _library_folders(files: list[File]) -> list[str]:
    """The library's folders, each above the ones within it."""
    root = PurePosixPath(paths.HOST_BACKUP_LIBRARY)
    found = {root}
    for file in files:
        path = PurePosixPath(file.path)
        if path.is_relative_to(root):
            found.update(p for p in path.parents if p.is_relative_to(root))
    return sorted(map(str, found), key=lambda p: (p.count("/"), p))


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def write_tree(rendered: Rendered, build_dir: Path) -> Path:
    """Write the files under ``build_dir/<host>/`` mirroring the remote paths; returns that dir."""
    root = _inside(build_dir, rendered.host.name)
    for directory in rendered.directories:
        _inside(root, directory.path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for file in rendered.files:
        target = _inside(root, file.path.lstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
        target.chmod(file.mode)
    return root


def _inside(root: Path, relative: str) -> Path:
    """``root / relative``, refused when it would land outside ``root`` (an absolute path,
    ``..`` or a symlink out): a second line of defence behind the inventory's name check."""
    target = root / relative
    base = root.resolve()
    resolved = target.resolve()
    if relative in ("", ".") or not resolved.is_relative_to(base) or resolved == base:
        raise RenderError(f"{relative!r} would be written outside {root}/; refusing.")
    return target
