"""`.env` + inventory + secrets -> one validated Site per host, or every problem at once."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import ConfigError, Problem
from . import schema
from .envfile import parse_env
from .inventory import Host, load_inventory
from .reader import (
    Reader,
    is_email,
    is_hostname,
    is_image_path,
    is_ip,
    is_number,
    is_port,
    is_size,
    size_mib,
    suggest,
)
from .rooms import ROOM_PASSWORD, RoomPolicy, read_room_policy
from .schema import SIZE, Key
from .secrets import Secret, read_secrets, save_secrets
from .tls import TLS_MODES, TlsSettings


@dataclass(frozen=True)
class MemoryKey:
    """The memory-limit setting of one service; ``minimum`` refuses a limit it cannot run in."""

    key: str
    default: str
    help: str
    minimum: str = ""

    @property
    def grammar(self) -> str:
        return SIZE + (f"; at least {self.minimum}" if self.minimum else "")


@dataclass(frozen=True)
class Spec:
    """What the stack's services add to the settings (see model/services.py): a memory limit
    per service and the secrets they need."""

    memory: Mapping[str, MemoryKey]
    secrets: tuple[Secret, ...]

    @property
    def keys(self) -> tuple[Key, ...]:
        memory = (
            Key(m.key, "tuning", m.default, m.help, per_host=True, grammar=m.grammar)
            for m in self.memory.values()
        )
        return (*schema.KEYS, *memory)


@dataclass(frozen=True)
class Auth:
    """Who may open rooms; ``jwt_app_id`` is the issuer and audience of the tokens (jwt)."""

    enabled: bool
    type: str
    guests: bool
    jwt_app_id: str = ""


@dataclass(frozen=True)
class Images:
    jitsi_repo: str
    jitsi_version: str
    uptime_kuma: str
    registry_mirror: str
    source: str
    postgres: str
    redis: str = "redis:8"
    collector_base: str = "debian:trixie-slim"

    def jitsi(self, service: str) -> str:
        return f"{self.jitsi_repo}/{service}:{self.jitsi_version}"


@dataclass(frozen=True)
class KumaSmtp:
    """The mail server Uptime Kuma sends its alerts through (465: TLS from the first byte)."""

    host: str
    port: int
    user: str
    password: str
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Monitoring:
    enabled: bool
    allowed_networks: tuple[str, ...]
    webhook_url: str
    failures_before_action: int
    max_restarts_per_hour: int
    container_health_interval: int
    kuma_webhook_url: str = ""
    kuma_smtp: KumaSmtp | None = None


@dataclass(frozen=True)
class Turn:
    """The TURN server of the core host: off while ``hostname`` is empty; it relays media from
    UDP ports ``first_port`` to ``last_port``."""

    hostname: str = ""
    first_port: int = 49152
    last_port: int = 49651

    @property
    def enabled(self) -> bool:
        return bool(self.hostname)


@dataclass(frozen=True)
class HostBackup:
    """The nightly job on each host: at ``hour``:30, keeping ``daily`` and ``weekly``."""

    enabled: bool
    hour: int
    daily: int
    weekly: int


@dataclass(frozen=True)
class MeetingHistory:
    """The record of meetings: kept ``days`` after they end (0: for ever)."""

    enabled: bool = False
    days: int = 365


@dataclass(frozen=True)
class Tuning:
    docker_source: str
    docker_storage_driver: str
    docker_address_pool: str
    udp_buffer_bytes: int
    nofile_limit: int
    memory: Mapping[str, str]
    fail2ban: bool


@dataclass(frozen=True)
class Site:
    """Everything about the service one host runs, validated and typed."""

    public_url: str
    meet_hostname: str
    monitor_hostname: str
    timezone: str
    tls: TlsSettings
    auth: Auth
    rooms: RoomPolicy
    images: Images
    monitoring: Monitoring
    tuning: Tuning
    secrets: Mapping[str, str]
    host_backup: HostBackup
    # CSP frame-ancestors sources of the meeting site; () = no restriction, as upstream.
    frame_ancestors: tuple[str, ...] = ()
    turn: Turn = Turn()
    # Where Prosody keeps accounts and data: PostgreSQL on the core host, or the image's files.
    postgres: bool = False
    meeting_history: MeetingHistory = MeetingHistory()


@dataclass(frozen=True)
class Deployment:
    """The hosts of an inventory, each with the Site settings that apply to it; with
    ``secrets_path``, the secrets it made that `.secrets.env` does not hold yet (see
    `save_secrets`)."""

    hosts: tuple[Host, ...]
    sites: Mapping[str, Site]
    secrets_path: Path | None = None
    stored_secrets: Mapping[str, str] = field(default_factory=dict)
    new_secrets: Mapping[str, str] = field(default_factory=dict)

    def save_secrets(self) -> None:
        """Keep the secrets made for this deployment in `.secrets.env` (mode 0600)."""
        if self.secrets_path is not None:
            save_secrets(self.secrets_path, dict(self.stored_secrets), dict(self.new_secrets))

    @property
    def core(self) -> Host | None:
        return next((h for h in self.hosts if h.role == "core"), None)


def load(
    env_path: Path, hosts_path: Path, secrets_path: Path, spec: Spec, save: bool = True
) -> Deployment:
    """Read and validate everything; raises ConfigError naming each problem and its fix.

    Missing secrets are saved to ``secrets_path`` once everything is valid; with ``save=False``
    the caller does it (`Deployment.save_secrets`) after checks of its own, such as the
    validation of the rendered files."""
    env, problems = read_env(env_path, spec.keys)
    try:
        hosts = load_inventory(hosts_path, spec.keys)
    except ConfigError as error:
        raise ConfigError(problems + error.problems) from None
    if problems:
        raise ConfigError(problems)
    stored, missing, problems = read_secrets(secrets_path, (ROOM_PASSWORD, *spec.secrets))
    if problems:
        raise ConfigError(problems)
    secrets = {**stored, **missing}
    sites: dict[str, Site] = {}
    for host in hosts:
        reader = _reader(env_path.name, env, host)
        sites[host.name] = read_site(reader, secrets, spec)
        problems += [p for p in reader.problems if p not in problems]
    if problems:
        raise ConfigError(problems)
    deployment = Deployment(tuple(hosts), sites, secrets_path, stored, missing)
    if save:  # only a valid configuration creates or changes the secrets file
        deployment.save_secrets()
    return deployment


def read_env(path: Path, keys: tuple[Key, ...]) -> tuple[dict[str, str], list[Problem]]:
    """The `.env` values over the defaults, and a problem for each unknown key."""
    by_name = {key.name: key for key in keys}
    if not path.exists():
        return {}, [Problem(path.name, "-", "not found. Copy .env.example to .env and edit it.")]
    parsed, problems = parse_env(path)
    raw = parsed.values
    problems += [
        Problem(path.name, key, f"is not a setting.{suggest(key, by_name)}")
        for key in raw
        if key not in by_name
    ]
    defaults = {k.name: k.default for k in keys if k.default is not None}
    return {**defaults, **raw}, problems


def _reader(env_name: str, env: dict[str, str], host: Host) -> Reader:
    sources = {key: env_name for key in env} | {key: host.source for key in host.overrides}
    return Reader({**env, **host.overrides}, sources)


def read_site(reader: Reader, secrets: Mapping[str, str], spec: Spec) -> Site:
    public_url, meet_hostname = reader.https_url("PUBLIC_URL")
    monitor_hostname = reader.hostname("MONITOR_HOSTNAME", "status.example.org")
    if monitor_hostname and monitor_hostname.rstrip(".") == meet_hostname.rstrip("."):
        reader.fail(
            "MONITOR_HOSTNAME",
            f"{monitor_hostname!r} is the meeting host name too. Give the monitor its own name.",
        )
    return Site(
        public_url=public_url,
        meet_hostname=meet_hostname,
        monitor_hostname=monitor_hostname,
        timezone=_timezone(reader),
        tls=_tls(reader),
        auth=_with_jwt(reader, _auth(reader)),
        rooms=read_room_policy(reader, secrets[ROOM_PASSWORD.name]),
        images=_images(reader),
        monitoring=_monitoring(reader),
        tuning=_tuning(reader, spec),
        secrets=secrets,
        host_backup=_host_backup(reader),
        frame_ancestors=_frame_ancestors(reader),
        turn=_turn(reader, (meet_hostname, monitor_hostname)),
        postgres=reader.flag("ENABLE_POSTGRES"),
        meeting_history=_meeting_history(reader),
    )


def _meeting_history(reader: Reader) -> MeetingHistory:
    history = MeetingHistory(
        enabled=reader.flag("ENABLE_MEETING_HISTORY"),
        days=reader.integer("MEETING_HISTORY_DAYS", 0, 36500),
    )
    if history.enabled and not reader.flag("ENABLE_POSTGRES"):
        reader.fail(
            "ENABLE_MEETING_HISTORY",
            "1 needs PostgreSQL, where the history is kept. Set ENABLE_POSTGRES=1 too (Prosody "
            "then keeps its accounts there as well), or ENABLE_MEETING_HISTORY=0.",
        )
    return history


# Ports the relay range must leave alone: the bridge's media and the TURN server's own.
_NOT_RELAY_PORTS = (3478, 10000)
_MAX_RELAY_PORTS = 10000


def _turn(reader: Reader, site_names: tuple[str, ...]) -> Turn:
    hostname = reader.text("TURN_HOSTNAME").lower()
    if hostname and not is_hostname(hostname):
        reader.fail(
            "TURN_HOSTNAME", f"{hostname!r} is not a valid host name, e.g. turn.example.org."
        )
    elif hostname and hostname in site_names:
        reader.fail(
            "TURN_HOSTNAME",
            f"{hostname!r} is a name of the site already: nginx routes TLS on 443 by name, so the "
            "TURN server needs a name of its own (e.g. turn.example.org, in DNS like the others).",
        )
    first, last = _relay_ports(reader)
    return Turn(hostname, first, last)


def _relay_ports(reader: Reader) -> tuple[int, int]:
    value = reader.text("TURN_RELAY_PORTS")
    first, _, last = value.partition("-")
    if not (is_number(first) and is_number(last)) or not 1024 <= int(first) <= int(last) <= 65535:
        reader.fail(
            "TURN_RELAY_PORTS",
            f"{value!r} is not a port range. Write FIRST-LAST from 1024 to 65535, "
            "e.g. 49152-49651.",
        )
        return Turn.first_port, Turn.last_port
    ports = range(int(first), int(last) + 1)
    if len(ports) > _MAX_RELAY_PORTS or any(p in ports for p in _NOT_RELAY_PORTS):
        reader.fail(
            "TURN_RELAY_PORTS",
            f"{value!r} holds more than {_MAX_RELAY_PORTS} ports or one of "
            f"{', '.join(map(str, _NOT_RELAY_PORTS))} (the bridge's and the TURN server's own). "
            "Choose a range above them, e.g. 49152-49651.",
        )
    return ports.start, ports.stop - 1


def _host_backup(reader: Reader) -> HostBackup:
    backup = HostBackup(
        enabled=reader.flag("ENABLE_HOST_BACKUP"),
        hour=reader.integer("HOST_BACKUP_HOUR", 0, 23),
        daily=reader.integer("HOST_BACKUP_KEEP_DAILY", 0, 1000),
        weekly=reader.integer("HOST_BACKUP_KEEP_WEEKLY", 0, 1000),
    )
    if backup.enabled and backup.daily + backup.weekly == 0:
        reader.fail(
            "HOST_BACKUP_KEEP_WEEKLY",
            "0 with HOST_BACKUP_KEEP_DAILY=0 would keep no archive. Keep at least one, or set "
            "ENABLE_HOST_BACKUP=0.",
        )
    return backup


_ORIGIN = re.compile(r"https://(?:\*\.)?([a-z0-9.-]+)(?::([0-9]{1,5}))?")


def _frame_ancestors(reader: Reader) -> tuple[str, ...]:
    """The origins that may frame the meeting, as CSP sources: self is written 'self'."""
    sources: list[str] = []
    for item in reader.listing("FRAME_ANCESTORS"):
        origin = _ORIGIN.fullmatch(item)
        if item.lower() == "self":
            sources.append("'self'")
        elif origin and is_hostname(origin.group(1)) and is_port(origin.group(2) or "443"):
            sources.append(item)
        else:
            reader.fail(
                "FRAME_ANCESTORS",
                f"{item!r} is not self or an https origin. Write e.g. "
                "self,https://intranet.example.org (no path), or leave it empty.",
            )
    return tuple(dict.fromkeys(sources))


# Files of the zone database that name no zone: localtime is whatever zone the machine reading
# it has (a container's is UTC), Factory a placeholder that prints "-00".
_NOT_ZONES = ("localtime", "Factory")


def _timezone(reader: Reader) -> str:
    name = reader.text("TZ")
    if name in _NOT_ZONES:
        reader.fail(
            "TZ",
            f"{name!r} is a file of the zone database, not a time zone: each machine reads its "
            "own. Write the zone itself, e.g. Europe/Berlin or UTC.",
        )
    elif name not in zoneinfo.available_timezones():
        reader.fail("TZ", f"{name!r} is not a time zone name, e.g. Europe/Berlin or UTC.")
    return name


def _tls(reader: Reader) -> TlsSettings:
    mode = reader.choice("TLS_MODE", TLS_MODES)
    email = reader.email("LETSENCRYPT_EMAIL") if mode == "letsencrypt" else ""
    acme_server = reader.url("ACME_SERVER", ("https",), "https://acme.example.org/directory")
    staging = reader.flag("LETSENCRYPT_STAGING")
    if staging and acme_server:
        reader.fail(
            "LETSENCRYPT_STAGING", "staging is Let's Encrypt's: leave it 0 with ACME_SERVER."
        )
    files = {key: _readable_file(reader, key) for key in ("TLS_CERT_FILE", "TLS_KEY_FILE")}
    if mode == "custom" and not all(files.values()):
        missing = " and ".join(key for key, path in files.items() if not path)
        reader.fail("TLS_MODE", f"custom needs {missing}: the paths of your certificate files.")
    try:
        return TlsSettings(
            mode=mode,  # type: ignore[arg-type]
            email=email,
            staging=staging,
            acme_server=acme_server,
            custom_cert=str(files["TLS_CERT_FILE"] or ""),
            custom_key=str(files["TLS_KEY_FILE"] or ""),
        )
    except ValueError:
        return TlsSettings()  # the problems above already say what is wrong


def _readable_file(reader: Reader, key: str) -> Path | None:
    value = reader.text(key)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        reader.fail(key, f"{value!r} is not a readable file. Fix the path.")
    return path


def _auth(reader: Reader) -> Auth:
    enabled = reader.flag("ENABLE_AUTH")
    guests = reader.flag("ENABLE_GUESTS")
    if guests and not enabled:
        reader.fail("ENABLE_GUESTS", "guests only exist with ENABLE_AUTH=1. Set one or the other.")
    kind = reader.choice("AUTH_TYPE", ("internal", "jwt", "ldap", "matrix"))
    if enabled and kind in UNWIRED_AUTH_TYPES:
        reader.fail(
            "AUTH_TYPE",
            f"{kind} is not wired by this project yet (none of its settings reach the "
            "containers, so nobody could log in). Use AUTH_TYPE=internal or jwt.",
        )
    return Auth(enabled, kind, guests)


# Jitsi's images know them, but this project passes none of their settings yet.
UNWIRED_AUTH_TYPES = ("ldap", "matrix")


_JWT_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _with_jwt(reader: Reader, auth: Auth) -> Auth:
    """``auth`` with the JWT app id, checked whatever AUTH_TYPE is, so switching to jwt later
    meets no surprise."""
    app_id = reader.text("JWT_APP_ID")
    if not _JWT_APP_ID.fullmatch(app_id):
        reader.fail(
            "JWT_APP_ID",
            f"{app_id!r} is not an app id. Use letters, digits, '.', '_' and '-', starting with "
            "a letter or digit, at most 64 characters, e.g. JWT_APP_ID=jitsi-deploy.",
        )
    return replace(auth, jwt_app_id=app_id)


STORAGE_DRIVERS = ("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs")


def _images(reader: Reader) -> Images:
    version = reader.required("JITSI_IMAGE_VERSION", "stable-11146-2")
    if version:
        reader.image_tag("JITSI_IMAGE_VERSION", version, "stable-11146-2")
    return Images(
        jitsi_repo=reader.image_path("JITSI_IMAGE_REPO", "ghcr.io/jitsi"),
        jitsi_version=version,
        uptime_kuma=_pinned_image(reader, "UPTIME_KUMA_IMAGE", "louislam/uptime-kuma:2"),
        postgres=_pinned_image(reader, "POSTGRES_IMAGE", "postgres:17"),
        redis=_pinned_image(reader, "REDIS_IMAGE", "redis:8"),
        collector_base=_pinned_image(reader, "COLLECTOR_BASE_IMAGE", "debian:trixie-slim"),
        registry_mirror=reader.url(
            "REGISTRY_MIRROR", ("https",), "https://mirror.example.org", bare=True
        ),
        source=reader.choice("IMAGE_SOURCE", ("pull", "bundle")),
    )


def _pinned_image(reader: Reader, key: str, example: str) -> str:
    value = reader.required(key, example)
    path, colon, tag = value.rpartition(":")
    if not value:
        return value
    if not colon or "/" in tag:
        reader.fail(key, f"{value!r} has no tag. Pin a release, e.g. {example}.")
    elif not is_image_path(path):
        reader.fail(
            key,
            f"{path!r} is not an image path. Write [registry/]name:tag in lower-case letters, "
            f"digits, '.', '_', '-' and '/' (a registry port from 1 to 65535), e.g. {example}.",
        )
    else:
        reader.image_tag(key, tag, example)
    return value


def _monitoring(reader: Reader) -> Monitoring:
    return Monitoring(
        enabled=reader.flag("ENABLE_MONITORING"),
        allowed_networks=reader.networks("MONITOR_ALLOWED_NETWORKS"),
        webhook_url=reader.url(
            "HEALTH_WEBHOOK_URL", ("http", "https"), "https://hooks.example.org/jitsi"
        ),
        failures_before_action=reader.integer("HEALTH_FAILURES_BEFORE_ACTION", 1, 60),
        max_restarts_per_hour=reader.integer("HEALTH_MAX_RESTARTS_PER_HOUR", 1, 60),
        container_health_interval=reader.integer("CONTAINER_HEALTH_INTERVAL", 2, 300),
        kuma_webhook_url=reader.url(
            "KUMA_NOTIFY_WEBHOOK_URL", ("http", "https"), "https://hooks.example.org/kuma"
        ),
        kuma_smtp=_kuma_smtp(reader),
    )


# A login or password: printable, no spaces (the envfile already refuses control characters).
_SMTP_WORD = re.compile(r"[!-~]{1,256}")


def _kuma_smtp(reader: Reader) -> KumaSmtp | None:
    host = reader.text("KUMA_SMTP_HOST")
    port = reader.integer("KUMA_SMTP_PORT", 1, 65535)
    user, password = reader.text("KUMA_SMTP_USER"), reader.text("KUMA_SMTP_PASSWORD")
    sender, recipients = reader.text("KUMA_SMTP_FROM"), reader.listing("KUMA_SMTP_TO")
    if not host:
        extra = [k for k, v in (("KUMA_SMTP_FROM", sender), ("KUMA_SMTP_TO", recipients)) if v]
        for key in extra:
            reader.fail(key, "is set but KUMA_SMTP_HOST is empty. Set the mail server too.")
        return None
    if not (is_hostname(host) or is_ip(host)):
        hint = " Leave out the trailing dot." if host.endswith(".") else ""
        reader.fail("KUMA_SMTP_HOST", f"{host!r} is not a host name, e.g. smtp.example.org.{hint}")
    for key, value in (("KUMA_SMTP_USER", user), ("KUMA_SMTP_PASSWORD", password)):
        if value and not _SMTP_WORD.fullmatch(value):
            reader.fail(key, "must be printable ASCII without spaces, at most 256 characters.")
    if password and not user:
        reader.fail("KUMA_SMTP_PASSWORD", "is set but KUMA_SMTP_USER is empty. Set the login.")
    reader.email("KUMA_SMTP_FROM")
    if not recipients:
        reader.fail("KUMA_SMTP_TO", "is required with KUMA_SMTP_HOST, e.g. ops@example.org.")
    for address in recipients:
        if not is_email(address):
            reader.fail("KUMA_SMTP_TO", f"{address!r} is not an e-mail address.")
    return KumaSmtp(host.lower(), port, user, password, sender, recipients)


def _tuning(reader: Reader, spec: Spec) -> Tuning:
    return Tuning(
        docker_source=reader.choice("DOCKER_SOURCE", ("official", "distro")),
        docker_storage_driver=_storage_driver(reader),
        docker_address_pool=_address_pool(reader),
        udp_buffer_bytes=reader.integer("UDP_BUFFER_BYTES", 212992, 1 << 30),
        nofile_limit=reader.integer("NOFILE_LIMIT", 1024, 1 << 20),
        memory={service: _memory(reader, key) for service, key in spec.memory.items()},
        fail2ban=reader.flag("ENABLE_FAIL2BAN"),
    )


# Docker carves /24 networks from the pool (model/docker_daemon.py): docker0, the stack's and
# Uptime Kuma's take one each, so a pool holds at least four.
POOL_SUBNET_PREFIX, POOL_MAX_PREFIX = 24, 22


def _address_pool(reader: Reader) -> str:
    key = "DOCKER_ADDRESS_POOL"
    raw, pools = reader.listing(key), reader.networks(key)
    if len(pools) > 1:
        reader.fail(key, "holds more than one network. Give one, e.g. 172.20.0.0/16.")
    elif pools and "/" not in raw[0]:
        reader.fail(
            key, f"{raw[0]!r} is an address, not a network. Give a CIDR, e.g. 172.20.0.0/16."
        )
    elif pools and ipaddress.ip_network(pools[0]).version != 4:
        reader.fail(key, f"{pools[0]!r} is not IPv4. Give an IPv4 network, e.g. 172.20.0.0/16.")
    elif pools and ipaddress.ip_network(pools[0]).prefixlen > POOL_MAX_PREFIX:
        reader.fail(
            key,
            f"{pools[0]!r} is too small: Docker takes /{POOL_SUBNET_PREFIX} networks from it, "
            f"at least four. Give /{POOL_MAX_PREFIX} or larger, e.g. 172.20.0.0/16.",
        )
    return pools[0] if pools else ""


def _storage_driver(reader: Reader) -> str:
    value = reader.text("DOCKER_STORAGE_DRIVER")
    if value and value not in STORAGE_DRIVERS:
        reader.fail(
            "DOCKER_STORAGE_DRIVER",
            f"{value!r} is not a Docker storage driver: use one of {', '.join(STORAGE_DRIVERS)}, "
            "or leave it empty for Docker's choice.",
        )
        return ""
    return value


def _memory(reader: Reader, memory: MemoryKey) -> str:
    size = reader.size(memory.key)
    if is_size(size) and memory.minimum and size_mib(size) < size_mib(memory.minimum):
        reader.fail(
            memory.key,
            f"{size} is too little to run in: give it at least {memory.minimum}.",
        )
    return size
