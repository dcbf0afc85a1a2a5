"""The services of the stack, each described once, as data.

Everything per service is derived from these descriptions: the compose file and its env file,
the directories and config files a host gets, the image list, the health check's configuration,
the memory-limit settings and the secrets to generate. Adding a service is one description
here plus its templates.

The Jitsi images' runtime contract (read from docker-jitsi-meet at the pinned release, see
tests/standin/CONTRACT.md): read-only root, `/run` a tmpfs mounted `exec` (s6-overlay runs its
init from there), mounted folders writable by uid 1000, prosody's data in /var/lib/prosody.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..collector import COLLECTOR_DIR
from ..render.templating import TEMPLATES_DIR
from ..settings.inventory import Host
from ..settings.reader import size_mib
from ..settings.secrets import Secret
from ..settings.site import Deployment, Images, MemoryKey, Site
from . import paths, turn, xmpp_tls
from .managed import Directory, container_directory
from .xmpp_tls import XMPP_AUTH_DOMAIN, XMPP_TLS_KEY

# The Jitsi containers share one network; Kuma has one of its own, so none of them reaches it
# past nginx's gate (Docker drops traffic between two bridge networks).
STACK_NETWORK = "meet.jitsi"
KUMA_NETWORK = "uptime-kuma"


@dataclass(frozen=True)
class Placement:
    """Where a service runs: the host, its site settings, and the hosts around it."""

    host: Host
    site: Site
    core: Host | None
    bridges: tuple[Host, ...]


@dataclass(frozen=True)
class ConfigFile:
    """A file the service reads from a mounted folder; a change restarts the service.

    ``source`` is under templates/: a name ending in `.j2` is rendered with the placement,
    any other file is sent as it is. ``make``, instead, makes the content from the placement
    (a certificate from the site's key).
    """

    path: str
    source: str = ""
    mode: int = 0o644
    make: Callable[[Placement], bytes] | None = None
    # More names the template reads, and whether the site has the file at all (without it,
    # the deploy removes the file and restarts the service).
    values: Mapping[str, object] = field(default_factory=dict)
    when: Callable[[Site], bool] = lambda site: True


@dataclass(frozen=True)
class Derivation:
    """An image the deploy builds on the host, tagged ``image``: ``recipe`` (a Dockerfile
    that needs no build context) on top of the service's own image."""

    image: str
    recipe: Path


@dataclass(frozen=True)
class HealthCheck:
    """One check the host's health script runs each minute; when it keeps failing, the
    ``restarts`` service (by default the service itself) is restarted.

    + kind: "http" (``url`` answers from the host), "container" (inside the container: ``url``
      answers there, or without one the image's own healthcheck.sh), "bridges" (jicofo's
      stats at ``url`` count at least one operational bridge).
    """

    name: str
    kind: str
    url: str = ""
    restarts: str = ""


@dataclass(frozen=True)
class Service:
    """One container of the stack.

    + image: the image reference, from the site's image settings; ``derived``: the image the
      deploy builds from it for a site, if any, which the container then runs.
    + roles: the host roles that run it; ``enabled`` may switch it off per site.
    + memory: its memory-limit setting; ``heap_variable`` gets a JVM heap that fits in it.
    + jitsi_contract: the Jitsi images' runtime needs (read-only root, exec /run, uid 1000);
      ``unprivileged``: a read-only root, no capabilities and no way to gain privileges, for
      the project's own code.
    + ports, volumes, environment, command: compose entries for a placement; secrets reach the
      environment through the env file, never the compose file; ``deploy_secrets`` are the
      ones the deploy itself uses (an admin account it creates, the key of a certificate it
      makes), never in the env file.
    + directories: folders under the config dir its volumes need, owned by the container user
      (the folders above them are root's).
    + files: config files it reads; ``data_dirs``: other folders (its data, or code it runs).
    + health: what the host's health check probes; ``container_health``: compose's own check.
    + depends_on: started after these; ``restarts_after``: restarted after these restart,
      since it keeps a session with them.
    + network: the compose network it joins (the stack's by default);
      ``network_aliases``: its other names there.
    """

    name: str
    image: Callable[[Images], str]
    memory: MemoryKey
    roles: frozenset[str] = frozenset({"core"})
    enabled: Callable[[Site], bool] = lambda site: True
    derived: Callable[[Site], Derivation | None] = lambda site: None
    heap_variable: str = ""
    jitsi_contract: bool = True
    unprivileged: bool = False
    ports: Callable[[Placement], list[str]] = lambda placement: []
    volumes: Callable[[Placement], list[str]] = lambda placement: []
    environment: Callable[[Placement], dict[str, str]] = lambda placement: {}
    command: Callable[[Placement], list[str]] = lambda placement: []
    secrets: tuple[Secret, ...] = ()
    directories: tuple[str, ...] = ()
    data_dirs: tuple[Directory, ...] = ()
    files: tuple[ConfigFile, ...] = ()
    health: tuple[HealthCheck, ...] = ()
    container_health: tuple[str, ...] = ("CMD", "/usr/local/bin/healthcheck.sh")
    depends_on: tuple[str, ...] = ()
    awaited: bool = False
    restarts_after: tuple[str, ...] = ()
    network_aliases: tuple[str, ...] = ()
    network: str = STACK_NETWORK
    deploy_secrets: tuple[Secret, ...] = ()

    def runs_on(self, placement: Placement) -> bool:
        return placement.host.role in self.roles and self.enabled(placement.site)

    def running_image(self, site: Site) -> str:
        """The image its container runs: the derived one where the site has it built."""
        derivation = self.derived(site)
        return derivation.image if derivation else self.image(site.images)


def _xmpp_password() -> str:
    return secrets.token_hex(16)  # what the images' own gen-passwords.sh makes


JICOFO_PASSWORD = Secret("JICOFO_AUTH_PASSWORD", _xmpp_password)
JVB_PASSWORD = Secret("JVB_AUTH_PASSWORD", _xmpp_password)
# The accounts those passwords log in to, on the images' default auth domain (XMPP_AUTH_DOMAIN).
# The prosody image creates them once and keeps them: a changed password reaches them only when
# set explicitly.
SERVICE_ACCOUNTS = {
    JICOFO_PASSWORD.name: f"focus@{XMPP_AUTH_DOMAIN}",
    JVB_PASSWORD.name: f"jvb@{XMPP_AUTH_DOMAIN}",
}
# HS256 key of the tokens `fab token` signs and Prosody's token module checks (AUTH_TYPE=jwt).
JWT_SECRET = Secret("JWT_APP_SECRET", lambda: secrets.token_urlsafe(32))
KUMA_PORT = 3001
# jicofo's statistics (bridges, conferences, participants), published on the core's loopback.
JICOFO_STATS_URL = "http://127.0.0.1:8888/stats"
# The bridge's private REST server (health, drain, metrics), published on the host's loopback.
JVB_REST = "http://127.0.0.1:8080"
# Prosody's domain of the meeting's users (the image's XMPP_DOMAIN, left at its default):
# internal accounts live there, and tokens name it as their subject.
XMPP_DOMAIN = "meet.jitsi"
KUMA_ADMIN_PASSWORD = Secret("KUMA_ADMIN_PASSWORD", lambda: secrets.token_urlsafe(18))
# The password of PostgreSQL's one login, Prosody's: the postgres image sets it when it makes
# the database, and Prosody reads it from its environment (templates/prosody/storage-sql...).
POSTGRES_PASSWORD = Secret("POSTGRES_PASSWORD", lambda: secrets.token_hex(24))
# What Prosody's events module shows the collector, so no other container of the stack's
# network can write the history; Prosody reads it from its environment, as the database's.
COLLECTOR_TOKEN = Secret("COLLECTOR_TOKEN", lambda: secrets.token_urlsafe(24))
# The JWT, TURN, database and collector secrets go to prosody whatever AUTH_TYPE,
# TURN_HOSTNAME, ENABLE_POSTGRES and ENABLE_MEETING_HISTORY are, as upstream's compose passes
# the first two; each is read only when its feature is on, and switching one on needs no new
# secret.
PROSODY_SECRETS = (
    JICOFO_PASSWORD, JVB_PASSWORD, JWT_SECRET, turn.TURN_SECRET, POSTGRES_PASSWORD,
    COLLECTOR_TOKEN,
)  # fmt: skip


@dataclass(frozen=True)
class SqlDatabase:
    """What Prosody's SQL storage logs in to: the stack's PostgreSQL, by its service name."""

    host: str = "postgres"
    port: int = 5432
    database: str = "prosody"
    username: str = "prosody"


PROSODY_DATABASE = SqlDatabase()
# The settings that switch Prosody's storage to the database (templates/prosody/storage-sql...).
PROSODY_SQL_SETTINGS = f"{paths.PROSODY_CONF_D}/storage-sql.cfg.lua"
# The prosody image of the release plus the Lua PostgreSQL driver its SQL storage needs.
PROSODY_WITH_POSTGRES = "jitsi-deploy/prosody-postgresql"


@dataclass(frozen=True)
class MeetingEvents:
    """How Prosody's events module reaches the collector, and how often it lists the meetings
    in progress; the collector forgets a live meeting no heartbeat mentioned for ``ttl``."""

    url: str = "http://collector:8000/events"
    heartbeat: int = 30
    hidden_domains: tuple[str, ...] = (XMPP_AUTH_DOMAIN, "hidden.meet.jitsi")

    @property
    def ttl(self) -> int:
        return 3 * self.heartbeat


MEETING_EVENTS = MeetingEvents()


JVM_MINIMUM_MIB = 768
# The official postgres image's user (docker-library/postgres 17/trixie/Dockerfile).
POSTGRES_UID = "999"


def _keeps_history(site: Site) -> bool:
    return site.meeting_history.enabled


def _jitsi(name: str) -> Callable[[Images], str]:
    return lambda images: images.jitsi(name)


def _config(*mounts: str) -> Callable[[Placement], list[str]]:
    """Volumes from the config dir: ``sub:container-path`` becomes ``${CONFIG}/sub:path:Z``."""
    return lambda placement: [f"{paths.CONFIG_DIR}/{m}:Z" for m in mounts]


def _auth(placement: Placement) -> dict[str, str]:
    auth = placement.site.auth
    return {
        "ENABLE_AUTH": str(int(auth.enabled)),
        "ENABLE_GUESTS": str(int(auth.guests)),
        "AUTH_TYPE": auth.type,
    }


def _web_environment(placement: Placement) -> dict[str, str]:
    # Behind the host nginx: plain http on 8000, no certificates of its own.
    return {
        "PUBLIC_URL": placement.site.public_url,
        "DISABLE_HTTPS": "1",
        "ENABLE_HTTP_REDIRECT": "0",
        "ENABLE_LETSENCRYPT": "0",
        **_auth(placement),
    }


def _prosody_ports(placement: Placement) -> list[str]:
    # Only remote bridges need the client port; with none it stays inside the compose network.
    return ["5222:5222"] if placement.bridges else []


def _prosody_environment(placement: Placement) -> dict[str, str]:
    return {
        "PUBLIC_URL": placement.site.public_url,
        **_auth(placement),
        **_jwt(placement),
        "XMPP_MUC_MODULES": ",".join(_muc_modules(placement.site)),
        # Breakout rooms (on by default in the image) live on their own MUC component, joined
        # by name: without the policy there they would open private rooms to anyone.
        "XMPP_BREAKOUT_MUC_MODULES": "room_policy",
        **turn.prosody_environment(placement.site),
    }


def _muc_modules(site: Site) -> list[str]:
    return ["room_policy", *(["meeting_events"] if site.meeting_history.enabled else [])]


def _jwt(placement: Placement) -> dict[str, str]:
    """What the image's token authentication reads besides JWT_APP_SECRET (a secret, so it
    comes through the env file): the app id, as the only accepted issuer and audience, so a
    token must name this site's app in both (prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua
    at stable-11146-2; left unset, any audience would pass)."""
    auth = placement.site.auth
    if not (auth.enabled and auth.type == "jwt"):
        return {}
    return {
        "JWT_APP_ID": auth.jwt_app_id,
        "JWT_ACCEPTED_ISSUERS": auth.jwt_app_id,
        "JWT_ACCEPTED_AUDIENCES": auth.jwt_app_id,
    }


def _prosody_derivation(site: Site) -> Derivation | None:
    if not site.postgres:
        return None
    tag = site.images.jitsi_version
    return Derivation(
        f"{PROSODY_WITH_POSTGRES}:{tag}", TEMPLATES_DIR / "prosody/postgresql.Dockerfile"
    )


def _postgres_command(placement: Placement) -> list[str]:
    """PostgreSQL sized to its container's memory limit (its defaults assume none): a quarter
    for shared buffers, half as the cache it may count on; few connections, Prosody holds one."""
    mib = size_mib(placement.site.tuning.memory["postgres"])
    return [
        "postgres",
        *("-c", f"shared_buffers={max(16, mib // 4)}MB"),
        *("-c", f"effective_cache_size={max(32, mib // 2)}MB"),
        *("-c", "max_connections=20"),
    ]


def _jicofo_environment(placement: Placement) -> dict[str, str]:
    # Without both switches /about/health is missing and the REST port listens on the
    # container's loopback only: the published port would answer nothing.
    return {
        **_auth(placement),
        "JICOFO_ENABLE_HEALTH_CHECKS": "1",
        "JICOFO_ENABLE_REST": "1",
    }


def bridge_nickname(host: Host) -> str:
    """The bridge's JVB_MUC_NICKNAME: its inventory name (unique there), by which jicofo's
    brewery, and so smoke and status, know it (model/brewery.py)."""
    return host.name


def _from_tls_key(make: Callable[[str], bytes]) -> Callable[[Placement], bytes]:
    """A file made from the site's XMPP TLS key (model/xmpp_tls.py)."""
    return lambda placement: make(placement.site.secrets[XMPP_TLS_KEY.name])


def _jvb_environment(placement: Placement) -> dict[str, str]:
    host = placement.host
    environment = {
        "JVB_ADVERTISE_IPS": host.public_ip,
        "JVB_MUC_NICKNAME": bridge_nickname(host),
        "JAVA_TOOL_OPTIONS": xmpp_tls.java_options(),
    }
    if host.role == "jvb" and placement.core:
        environment |= {"XMPP_SERVER": placement.core.private_ip, "XMPP_PORT": "5222"}
    return environment


WEB = Service(
    "web",
    _jitsi("web"),
    MemoryKey("WEB_MEMORY_LIMIT", "512m", "memory limit of the web container"),
    ports=lambda placement: ["127.0.0.1:8000:8000"],
    volumes=_config("web:/config", "storage/web:/storage"),
    environment=_web_environment,
    directories=("web", "storage/web"),
    health=(HealthCheck("web", "http", "http://127.0.0.1:8000/"),),
    container_health=("CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/"),
    depends_on=("prosody",),
    network_aliases=("meet.jitsi",),
)

PROSODY = Service(
    "prosody",
    _jitsi("prosody"),
    MemoryKey("PROSODY_MEMORY_LIMIT", "512m", "memory limit of prosody"),
    ports=_prosody_ports,
    volumes=_config(
        "prosody/config:/config",
        "prosody/prosody-plugins-custom:/prosody-plugins-custom",
        "storage/prosody:/var/lib/prosody",
    ),
    environment=_prosody_environment,
    secrets=PROSODY_SECRETS,
    directories=(
        "prosody/config",
        "prosody/config/conf.d",
        "prosody/config/certs",
        "prosody/prosody-plugins-custom",
        "storage/prosody",
    ),
    files=(
        ConfigFile(
            f"{paths.PROSODY_PLUGINS_DIR}/mod_room_policy.lua", "prosody/mod_room_policy.lua"
        ),
        ConfigFile(
            f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua", "prosody/room-policy.cfg.lua.j2", 0o600
        ),
        ConfigFile(
            f"{paths.PROSODY_PLUGINS_DIR}/mod_meeting_events.lua",
            "prosody/mod_meeting_events.lua",
            when=_keeps_history,
        ),
        ConfigFile(
            f"{paths.PROSODY_CONF_D}/meeting-events.cfg.lua",
            "prosody/meeting-events.cfg.lua.j2",
            values={"events": MEETING_EVENTS},
            when=_keeps_history,
        ),
        ConfigFile(
            PROSODY_SQL_SETTINGS,
            "prosody/storage-sql.cfg.lua.j2",
            values={"sql": PROSODY_DATABASE},
            when=lambda site: site.postgres,
        ),
        # What the bridges log in to shows the site's certificate, which they verify.
        ConfigFile(
            f"{paths.PROSODY_CERTS_DIR}/{XMPP_AUTH_DOMAIN}.crt",
            make=_from_tls_key(xmpp_tls.certificate_pem),
        ),
        ConfigFile(
            f"{paths.PROSODY_CERTS_DIR}/{XMPP_AUTH_DOMAIN}.key",
            mode=0o600,
            make=_from_tls_key(xmpp_tls.key_pem),
        ),
    ),
    deploy_secrets=(XMPP_TLS_KEY,),
    derived=_prosody_derivation,
    health=(
        HealthCheck("prosody-health", "container"),
        # The room policy fails closed: broken settings close every room, and say so here.
        HealthCheck("room-policy", "container", "http://127.0.0.1:5280/room-policy-health"),
    ),
    depends_on=("postgres",),
    network_aliases=("xmpp.meet.jitsi",),
)

JICOFO = Service(
    "jicofo",
    _jitsi("jicofo"),
    MemoryKey("JICOFO_MEMORY_LIMIT", "1g", "memory limit of jicofo", f"{JVM_MINIMUM_MIB}m"),
    heap_variable="JICOFO_MAX_MEMORY",
    ports=lambda placement: ["127.0.0.1:8888:8888"],
    volumes=_config("jicofo:/config"),
    environment=_jicofo_environment,
    secrets=(JICOFO_PASSWORD,),
    directories=("jicofo",),
    health=(
        HealthCheck("jicofo-health", "http", "http://127.0.0.1:8888/about/health"),
        # jvb's own health stays green when it lost its XMPP session; jicofo's count does not.
        HealthCheck("jicofo-bridges", "bridges", JICOFO_STATS_URL, restarts="jvb"),
    ),
    depends_on=("prosody",),
    restarts_after=("prosody",),
)

JVB = Service(
    "jvb",
    _jitsi("jvb"),
    MemoryKey("JVB_MEMORY_LIMIT", "3g", "memory limit of the video bridge", f"{JVM_MINIMUM_MIB}m"),
    roles=frozenset({"core", "jvb"}),
    heap_variable="VIDEOBRIDGE_MAX_MEMORY",
    ports=lambda placement: ["10000:10000/udp", "127.0.0.1:8080:8080"],
    volumes=_config("jvb:/config"),
    environment=_jvb_environment,
    secrets=(JVB_PASSWORD,),
    directories=("jvb",),
    # Its XMPP login verifies the core's certificate (model/xmpp_tls.py): the truststore holds
    # that certificate alone, never the key.
    files=(
        ConfigFile(f"{paths.JVB_CONFIG_DIR}/custom-jvb.conf", "jvb/custom-jvb.conf"),
        ConfigFile(
            f"{paths.JVB_CONFIG_DIR}/{xmpp_tls.TRUSTSTORE_NAME}",
            make=_from_tls_key(xmpp_tls.truststore),
        ),
    ),
    deploy_secrets=(XMPP_TLS_KEY,),
    health=(HealthCheck("jvb-health", "http", f"{JVB_REST}/about/health"),),
    depends_on=("prosody",),
    restarts_after=("prosody",),
)

UPTIME_KUMA = Service(
    "uptime-kuma",
    lambda images: images.uptime_kuma,
    MemoryKey("KUMA_MEMORY_LIMIT", "512m", "memory limit of Uptime Kuma"),
    enabled=lambda site: site.monitoring.enabled,
    jitsi_contract=False,
    # Only nginx reaches it: until its admin is created, whoever connects first could claim it.
    ports=lambda placement: [f"127.0.0.1:{KUMA_PORT}:{KUMA_PORT}"],
    # No Docker socket (it is root on the host): the health check, which runs as root anyway,
    # pushes each container's state to Kuma instead (model/health.py).
    volumes=lambda placement: [f"{paths.KUMA_DATA_DIR}:/app/data"],
    environment=lambda placement: {"UPTIME_KUMA_DB_TYPE": "sqlite"},
    data_dirs=(Directory(paths.KUMA_DATA_DIR, 0o700),),
    container_health=(),  # the image has its own HEALTHCHECK
    network=KUMA_NETWORK,
    deploy_secrets=(KUMA_ADMIN_PASSWORD,),
)

# Asked over TCP, as Prosody connects: its first start serves a socket only while it makes the
# database (docker-library/postgres 17/trixie/docker-entrypoint.sh:285-292).
POSTGRES_READY = (
    "CMD", "pg_isready", "-q", "-h", "127.0.0.1",
    "-U", PROSODY_DATABASE.username, "-d", PROSODY_DATABASE.database,
)  # fmt: skip

POSTGRES = Service(
    "postgres",
    lambda images: images.postgres,
    MemoryKey("POSTGRES_MEMORY_LIMIT", "512m", "memory limit of PostgreSQL"),
    enabled=lambda site: site.postgres,
    jitsi_contract=False,
    # No ports: only the stack's network reaches it.
    volumes=lambda placement: [f"{paths.POSTGRES_DATA_DIR}:/var/lib/postgresql/data"],
    environment=lambda placement: {
        "POSTGRES_USER": PROSODY_DATABASE.username,
        "POSTGRES_DB": PROSODY_DATABASE.database,
    },
    command=_postgres_command,
    secrets=(POSTGRES_PASSWORD,),
    # The image's user (uid 999) owns its data; its entrypoint would make it so at each start.
    data_dirs=(Directory(paths.POSTGRES_DATA_DIR, 0o700, POSTGRES_UID, POSTGRES_UID),),
    container_health=POSTGRES_READY,
    awaited=True,
)

REDIS_PASSWORD = Secret("REDIS_PASSWORD", lambda: secrets.token_hex(24))


def _redis_command(placement: Placement) -> list[str]:
    """The official image's entry point runs redis-server with its settings from stdin (`-`),
    written by the shell: the password stays out of every argv and every file. No persistence:
    the live state is rebuilt by the next heartbeat. Three quarters of the limit for data, and
    the keys nearest their expiry go first when that is full."""
    mib = size_mib(placement.site.tuning.memory["redis"])
    settings = (
        "requirepass $REDIS_PASSWORD",
        'save ""',
        "appendonly no",
        f"maxmemory {max(8, mib * 3 // 4)}mb",
        "maxmemory-policy volatile-ttl",
    )
    heredoc = "\n".join(("exec docker-entrypoint.sh redis-server - <<EOF", *settings, "EOF"))
    return ["sh", "-c", heredoc]


REDIS = Service(
    "redis",
    lambda images: images.redis,
    MemoryKey("REDIS_MEMORY_LIMIT", "128m", "memory limit of Redis"),
    enabled=_keeps_history,
    jitsi_contract=False,
    # No ports, no volume: only the collector reaches it, and it keeps nothing.
    command=_redis_command,
    secrets=(REDIS_PASSWORD,),
    container_health=("CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'),
    awaited=True,
)


# The collector's image: Debian's Python and its database clients on the pinned Debian image.
COLLECTOR_IMAGE = "jitsi-deploy/collector"
COLLECTOR_CODE_DIR = f"{paths.CONFIG_DIR}/collector"
COLLECTOR_CODE = tuple(
    path.relative_to(COLLECTOR_DIR).as_posix()
    for path in sorted(COLLECTOR_DIR.rglob("*"))
    if path.suffix in (".py", ".sql")
)


COLLECTOR_READY = (
    "CMD", "python3", "-c",
    "import urllib.request as r; r.urlopen('http://127.0.0.1:8000/health', timeout=4)",
)  # fmt: skip


def _collector_derivation(site: Site) -> Derivation:
    tag = site.images.collector_base.rpartition(":")[2]
    return Derivation(f"{COLLECTOR_IMAGE}:{tag}", COLLECTOR_DIR / "Dockerfile")


def _collector_file(name: str) -> ConfigFile:
    return ConfigFile(
        f"{COLLECTOR_CODE_DIR}/collector/{name}",
        make=lambda placement: (COLLECTOR_DIR / name).read_bytes(),
    )


COLLECTOR = Service(
    "collector",
    lambda images: images.collector_base,
    MemoryKey("COLLECTOR_MEMORY_LIMIT", "128m", "memory limit of the meeting-events collector"),
    enabled=_keeps_history,
    derived=_collector_derivation,
    jitsi_contract=False,
    unprivileged=True,
    volumes=lambda placement: [f"{COLLECTOR_CODE_DIR}:/app:ro"],
    environment=lambda placement: {
        "MEETING_HISTORY_DAYS": str(placement.site.meeting_history.days),
        "LIVE_TTL": str(MEETING_EVENTS.ttl),
    },
    secrets=(POSTGRES_PASSWORD, REDIS_PASSWORD, COLLECTOR_TOKEN),
    # The code is root's and read-only in the container: the collector cannot change it.
    data_dirs=(
        Directory(COLLECTOR_CODE_DIR),
        Directory(f"{COLLECTOR_CODE_DIR}/collector"),
        Directory(f"{COLLECTOR_CODE_DIR}/collector/migrations"),
    ),
    files=tuple(_collector_file(name) for name in COLLECTOR_CODE),
    container_health=COLLECTOR_READY,
    depends_on=("postgres", "redis"),
)

SERVICES: tuple[Service, ...] = (
    POSTGRES, REDIS, WEB, PROSODY, JICOFO, JVB, UPTIME_KUMA, COLLECTOR,
)  # fmt: skip


def services_at(placement: Placement, catalog: tuple[Service, ...] = SERVICES) -> list[Service]:
    """The services ``placement`` runs, in start order."""
    return [service for service in catalog if service.runs_on(placement)]


def memory_keys(catalog: tuple[Service, ...] = SERVICES) -> Mapping[str, MemoryKey]:
    return {service.name: service.memory for service in catalog}


def all_secrets(catalog: tuple[Service, ...] = SERVICES) -> tuple[Secret, ...]:
    found = (secret for s in catalog for secret in (*s.secrets, *s.deploy_secrets))
    return tuple({secret.name: secret for secret in found}.values())


def directories(service: Service) -> list[Directory]:
    """The service's folders: each listed one is the container user's, since the container
    writes there; the folders above them stay root's, so that user cannot swap a folder that
    root writes into for a link."""
    folders = []
    for sub in service.directories:
        parts = sub.split("/")
        above = ("/".join(parts[:i]) for i in range(1, len(parts)))
        folders += [
            Directory(f"{paths.CONFIG_DIR}/{a}") for a in above if a not in service.directories
        ]
        folders.append(container_directory(f"{paths.CONFIG_DIR}/{sub}"))
    return list(dict.fromkeys(folders)) + list(service.data_dirs)


def heap_mib(limit: str) -> int:
    """A JVM heap that leaves the rest of the container's limit to threads, metaspace and the
    bridge's direct buffers: a quarter, at least 256 MiB."""
    mib = size_mib(limit)
    return mib - max(256, mib // 4)


def container_name(service: str) -> str:
    """The fixed name of a service's container, the same under Compose v1 and v2 (which name
    containers `jitsi_web_1` and `jitsi-web-1`), so monitors can name it."""
    return f"{paths.COMPOSE_PROJECT}-{service}"


def placement_of(deployment: Deployment, host: Host) -> Placement:
    bridges = tuple(h for h in deployment.hosts if h.role == "jvb")
    return Placement(host, deployment.sites[host.name], deployment.core, bridges)
