"""Every key `.env` may set: its group, default and one-line meaning.

`.env.example` is generated from these keys and those the services add (`invoke
settings-example`; a test fails when the file differs), and an unknown key in `.env` is an
error with a did-you-mean, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass

from .passwords import MIN_GUESSES_LOG10, MIN_PASSWORD_LENGTH
from .reader import MOVING_TAGS


@dataclass(frozen=True)
class Key:
    """One setting; ``default=None`` marks it required, ``per_host`` allows an override in the
    inventory, ``example`` is what `.env.example` shows instead of the default, and ``grammar``
    what a value must look like (the README's settings table; tests hold ranges and choices
    to what the reader accepts)."""

    name: str
    group: str
    default: str | None
    help: str
    per_host: bool = False
    example: str | None = None
    grammar: str = ""


# Grammars shared by several keys. Values are read without expansion (see envfile.py) and
# stripped of surrounding spaces; switches and choices ignore case.
FLAG = "one of 0, 1, false, true, no, yes"
HOSTNAME = (
    "DNS name: two or more labels of a-z, 0-9 and '-' (not at a label's ends), each at most 63, "
    "253 in all; no trailing dot"
)
EMAIL = (
    "e-mail address: a local part of letters, digits and . _ % + - (at most 64), '@', a DNS name"
)
WEBHOOK_URL = (
    "empty, or an http or https URL with a DNS name or IP address (and a port, 1-65535); "
    "no user:password@, no spaces, quotes, backslashes, <, > or backticks"
)
NETWORKS = (
    "empty, or a comma list of IP networks in CIDR form, e.g. 192.0.2.0/24,2001:db8::/32; no %zone"
)
IMAGE_TAG = (
    "letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'; "
    f"not a moving tag ({', '.join(MOVING_TAGS)})"
)
SIZE = "a number (ASCII digits) and k, m or g, e.g. 512m; at most 1024g"
SMTP_WORD = "empty, or printable ASCII without spaces, at most 256 characters"
PASSWORD = (
    f"empty (one is generated), or at least {MIN_PASSWORD_LENGTH} characters (counted after "
    "Unicode NFKC normalization; no invisible characters, no blank at either end) that zxcvbn "
    f"estimates at 10^{MIN_GUESSES_LOG10:g} guesses or more: common words, names, dates, "
    "keyboard runs and repeats count little"
)
# It ends up in a Lua string of the prosody image's template: no quotes, no backslashes.
JWT_APP_ID = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64"
ROOM_NAME = (
    "letters (kept lower-case), digits, '.', '_' and '-', starting and ending with a letter or "
    "digit, at most 64; ASCII only, no [tenant] prefix"
)


def integer(minimum: int, maximum: int) -> str:
    return f"whole number (ASCII digits) from {minimum} to {maximum}"


def choice(*choices: str) -> str:
    return f"one of {', '.join(choices)}"


KEYS: tuple[Key, ...] = (
    # site
    Key(
        "PUBLIC_URL",
        "site",
        None,
        "full public https address of the meeting site",
        example="https://meet.example.org",
        grammar="https:// and a DNS name (as MONITOR_HOSTNAME), an optional trailing '/'; "
        "no port, user, path, query or fragment",
    ),
    Key(
        "MONITOR_HOSTNAME",
        "site",
        None,
        "host name of the Uptime Kuma status site",
        example="status.example.org",
        grammar=HOSTNAME + "; not the meeting's",
    ),
    Key(
        "TURN_HOSTNAME",
        "site",
        "",
        "host name of the TURN server on the core host, for participants behind firewalls "
        "that allow only 443, e.g. turn.example.org (empty = no TURN server)",
        grammar="empty, or " + HOSTNAME + "; not the meeting's or the monitor's",
    ),
    Key(
        "TURN_RELAY_PORTS",
        "site",
        "49152-49651",
        "UDP ports the TURN server relays media from (opened in the firewall)",
        grammar="FIRST-LAST: two port numbers, the first at least 1024, the last at most 65535 "
        "and not below the first; at most 10000 ports, holding neither 3478 nor 10000",
    ),
    Key(
        "TZ",
        "site",
        "UTC",
        "time zone of the containers",
        per_host=True,
        grammar="an IANA time zone name, e.g. Europe/Berlin; not localtime or Factory",
    ),
    Key(
        "FRAME_ANCESTORS",
        "site",
        "",
        "sites allowed to embed the meetings in a frame (iframe API); empty = any, as upstream",
        example="",
        grammar="empty (any site may embed the meetings, as upstream Jitsi), or a comma list of "
        "self (this site) and https origins: https://, a DNS name (its first label may be *), "
        "an optional port",
    ),
    # TLS
    Key(
        "TLS_MODE",
        "tls",
        "letsencrypt",
        "letsencrypt, custom (your own files) or selfsigned",
        grammar=choice("letsencrypt", "custom", "selfsigned"),
    ),
    Key(
        "LETSENCRYPT_EMAIL",
        "tls",
        "",
        "contact address for the ACME account (required with letsencrypt)",
        example="admin@example.org",
        grammar=EMAIL,
    ),
    Key(
        "LETSENCRYPT_STAGING",
        "tls",
        "0",
        "1 = use the staging CA while testing",
        grammar=FLAG + "; 0 with ACME_SERVER",
    ),
    Key(
        "ACME_SERVER",
        "tls",
        "",
        "another ACME directory URL (a private CA); empty = default",
        grammar="empty, or an https URL as HEALTH_WEBHOOK_URL",
    ),
    Key(
        "TLS_CERT_FILE",
        "tls",
        "",
        "local certificate chain file (custom mode)",
        grammar="empty, or the path of a readable local file (~ allowed)",
    ),
    Key(
        "TLS_KEY_FILE",
        "tls",
        "",
        "local private key file (custom mode)",
        grammar="empty, or the path of a readable local file (~ allowed)",
    ),
    # auth
    Key("ENABLE_AUTH", "auth", "0", "1 = only registered users may create rooms", grammar=FLAG),
    Key(
        "AUTH_TYPE",
        "auth",
        "internal",
        "internal, jwt, ldap or matrix",
        grammar=choice("internal", "jwt", "ldap", "matrix")
        + "; ldap and matrix are refused with ENABLE_AUTH=1 (not wired yet)",
    ),
    Key(
        "ENABLE_GUESTS",
        "auth",
        "0",
        "1 = guests may join rooms once a user opened them",
        grammar=FLAG + "; 1 only with ENABLE_AUTH=1",
    ),
    Key(
        "JWT_APP_ID",
        "auth",
        "jitsi-deploy",
        "AUTH_TYPE=jwt: the app id tokens are issued by and for (`fab token` signs them with "
        "the generated JWT_APP_SECRET)",
        grammar=JWT_APP_ID,
    ),
    # rooms
    Key(
        "PUBLIC_ROOMS",
        "rooms",
        "",
        "comma list of fixed rooms anyone with the link may join",
        example="daily-standup,team-meeting,weekly-review",
        grammar="comma list of room names: " + ROOM_NAME + "; none twice, none with the private "
        "prefix",
    ),
    Key(
        "PRIVATE_ROOM_PREFIX",
        "rooms",
        "private-",
        "rooms starting with this need a password",
        grammar="the start of a room name (as PUBLIC_ROOMS), which may end in '-', '_' or '.'",
    ),
    Key(
        "PRIVATE_ROOM_PASSWORD",
        "rooms",
        "",
        "default private room password; empty = generated (at least 12 characters)",
        grammar=PASSWORD,
    ),
    Key(
        "PRIVATE_ROOM_PASSWORDS",
        "rooms",
        "",
        "per-room passwords: room=password,room2=password",
        grammar="empty, or a comma list of room=password: a room name (as PUBLIC_ROOMS, not one "
        "of them) and a password (as PRIVATE_ROOM_PASSWORD)",
    ),
    Key(
        "OTHER_ROOMS",
        "rooms",
        "allow",
        "every other room: allow, deny or password",
        grammar=choice("allow", "deny", "password"),
    ),
    # monitoring
    Key(
        "ENABLE_MONITORING",
        "monitoring",
        "1",
        "1 = run Uptime Kuma on the core host",
        grammar=FLAG,
    ),
    Key(
        "MONITOR_ALLOWED_NETWORKS",
        "monitoring",
        "",
        "comma list of CIDRs allowed to the monitor; empty = everyone (it has its own login)",
        grammar=NETWORKS,
    ),
    Key(
        "HEALTH_WEBHOOK_URL",
        "monitoring",
        "",
        "URL told of every health action; empty = none",
        grammar=WEBHOOK_URL,
    ),
    Key(
        "HEALTH_FAILURES_BEFORE_ACTION",
        "monitoring",
        "2",
        "failed runs before a restart",
        grammar=integer(1, 60),
    ),
    Key(
        "HEALTH_MAX_RESTARTS_PER_HOUR",
        "monitoring",
        "3",
        "restarts per service per hour",
        grammar=integer(1, 60),
    ),
    Key(
        "CONTAINER_HEALTH_INTERVAL",
        "monitoring",
        "30",
        "seconds between Docker's health probes of each container: how soon one counts as "
        "healthy after it starts, or unhealthy after a fault",
        grammar=integer(2, 300),
    ),
    Key(
        "KUMA_NOTIFY_WEBHOOK_URL",
        "monitoring",
        "",
        "URL Uptime Kuma posts its alerts to",
        grammar=WEBHOOK_URL,
    ),
    Key(
        "KUMA_SMTP_HOST",
        "monitoring",
        "",
        "mail server for Uptime Kuma's alerts; empty = none",
        grammar="empty, or a DNS name or IP address",
    ),
    Key(
        "KUMA_SMTP_PORT",
        "monitoring",
        "587",
        "its port: 587 (STARTTLS) or 465 (TLS)",
        grammar=integer(1, 65535),
    ),
    Key("KUMA_SMTP_USER", "monitoring", "", "its login; empty = none", grammar=SMTP_WORD),
    Key(
        "KUMA_SMTP_PASSWORD",
        "monitoring",
        "",
        "its password (you provide it)",
        grammar=SMTP_WORD + "; needs KUMA_SMTP_USER",
    ),
    Key(
        "KUMA_SMTP_FROM",
        "monitoring",
        "",
        "sender address of the alert mails",
        grammar=EMAIL + "; required with KUMA_SMTP_HOST",
    ),
    Key(
        "KUMA_SMTP_TO",
        "monitoring",
        "",
        "comma list of recipient addresses",
        grammar="comma list of e-mail addresses (as KUMA_SMTP_FROM); required with KUMA_SMTP_HOST",
    ),
    # databases
    Key(
        "ENABLE_POSTGRES",
        "databases",
        "0",
        "1 = Prosody keeps its accounts and data in PostgreSQL on the core host (optional under "
        "50 users, recommended from 50); the deploy builds Prosody's image with the driver",
        grammar=FLAG,
    ),
    Key(
        "ENABLE_MEETING_HISTORY",
        "databases",
        "0",
        "1 = a record of meetings (rooms, durations, peak participants; no names or contents) "
        "in PostgreSQL, the live rooms in Redis: `fab report`, `fab status`",
        grammar=FLAG + "; needs ENABLE_POSTGRES=1",
    ),
    Key(
        "MEETING_HISTORY_DAYS",
        "databases",
        "365",
        "days a finished meeting stays in the history; 0 = for ever",
        grammar=integer(0, 36500),
    ),
    # backup
    Key(
        "ENABLE_HOST_BACKUP",
        "backup",
        "1",
        "1 = each host backs itself up every night into /var/backups/jitsi-deploy (copy the "
        "archives off the host, or use `fab backup`, against a lost disk)",
        grammar=FLAG,
    ),
    Key(
        "HOST_BACKUP_HOUR",
        "backup",
        "3",
        "the hour of the host's clock at which it backs up (at half past)",
        grammar=integer(0, 23),
    ),
    Key(
        "HOST_BACKUP_KEEP_DAILY",
        "backup",
        "7",
        "daily archives kept on the host",
        grammar=integer(0, 1000),
    ),
    Key(
        "HOST_BACKUP_KEEP_WEEKLY",
        "backup",
        "4",
        "weekly archives kept on the host",
        grammar=integer(0, 1000) + "; not 0 with HOST_BACKUP_KEEP_DAILY=0",
    ),
    # images
    Key(
        "JITSI_IMAGE_REPO",
        "images",
        "ghcr.io/jitsi",
        "registry path of the Jitsi images",
        grammar="[registry[:port]/]path: lower-case letters, digits, '.', '_', '-' and '/', at "
        "most 255; a port 1-65535",
    ),
    Key(
        "JITSI_IMAGE_VERSION",
        "images",
        "stable-11146-2",
        "pinned Jitsi release tag",
        grammar="an image tag: " + IMAGE_TAG,
    ),
    Key(
        "UPTIME_KUMA_IMAGE",
        "images",
        "louislam/uptime-kuma:2",
        "Uptime Kuma image",
        grammar="path:tag, the path as JITSI_IMAGE_REPO, the tag as JITSI_IMAGE_VERSION",
    ),
    Key(
        "POSTGRES_IMAGE",
        "images",
        "postgres:17",
        "PostgreSQL image (ENABLE_POSTGRES=1)",
        grammar="path:tag, as UPTIME_KUMA_IMAGE",
    ),
    Key(
        "REDIS_IMAGE",
        "images",
        "redis:8",
        "Redis image (ENABLE_MEETING_HISTORY=1)",
        grammar="path:tag, as UPTIME_KUMA_IMAGE",
    ),
    Key(
        "COLLECTOR_BASE_IMAGE",
        "images",
        "debian:trixie-slim",
        "Debian image the meeting-events collector is built on (ENABLE_MEETING_HISTORY=1)",
        grammar="path:tag, as UPTIME_KUMA_IMAGE; a Debian release with python3-psycopg",
    ),
    Key(
        "REGISTRY_MIRROR",
        "images",
        "",
        "Docker registry mirror URL; empty = none",
        per_host=True,
        grammar="empty, or an https URL as HEALTH_WEBHOOK_URL, without a query or fragment",
    ),
    Key(
        "IMAGE_SOURCE",
        "images",
        "pull",
        "pull (from the registry) or bundle (pushed over SSH)",
        per_host=True,
        grammar=choice("pull", "bundle"),
    ),
    # host set-up and tuning
    Key(
        "DOCKER_SOURCE",
        "tuning",
        "official",
        "official (Docker's repository) or distro",
        per_host=True,
        grammar=choice("official", "distro"),
    ),
    Key(
        "DOCKER_STORAGE_DRIVER",
        "tuning",
        "",
        "Docker storage driver; empty = Docker's choice",
        per_host=True,
        grammar="empty, or " + choice("overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs"),
    ),
    Key(
        "DOCKER_ADDRESS_POOL",
        "tuning",
        "",
        "CIDR Docker carves its networks from; empty = Docker's default",
        per_host=True,
        grammar="empty, or one IPv4 network in CIDR form, /22 or larger (Docker takes /24 "
        "networks from it), e.g. 172.20.0.0/16",
    ),
    Key(
        "UDP_BUFFER_BYTES",
        "tuning",
        "10485760",
        "kernel UDP buffer maximum for the bridge",
        per_host=True,
        grammar=integer(212992, 1 << 30),
    ),
    Key(
        "NOFILE_LIMIT",
        "tuning",
        "65536",
        "open files per process",
        per_host=True,
        grammar=integer(1024, 1 << 20),
    ),
    Key(
        "ENABLE_FAIL2BAN",
        "tuning",
        "0",
        "1 = install fail2ban jails for nginx and sshd",
        grammar=FLAG,
    ),
)

HEADER = (
    "# Settings of one Jitsi Meet site. Copy to .env and edit; every key is optional unless "
    "marked.\n# Per-host overrides of the keys marked (per host) go on the host's line in the "
    "inventory.\n"
)


def env_example(keys: tuple[Key, ...]) -> str:
    """The text of `.env.example`: every key under its group, its meaning above it."""
    out = [HEADER]
    group = ""
    for key in keys:
        if key.group != group:
            group = key.group
            out.append(f"\n## {group}\n")
        marks = ("(required) " if key.default is None else "", key.help)
        per_host = " (per host)" if key.per_host else ""
        value = key.example if key.example is not None else key.default or ""
        out.append(f"# {''.join(marks)}{per_host}\n{key.name}={value}\n")
    return "".join(out)


TABLE_BEGIN = "<!-- settings table: written by `invoke settings-example` -->\n"
TABLE_END = "<!-- end of settings table -->\n"


def with_settings_table(readme: str, keys: tuple[Key, ...]) -> str:
    """``readme`` with the text between its table markers replaced by the current table."""
    head, _, rest = readme.partition(TABLE_BEGIN)
    _, _, tail = rest.partition(TABLE_END)
    return head + TABLE_BEGIN + settings_table(keys) + TABLE_END + tail


def settings_table(keys: tuple[Key, ...]) -> str:
    """The README's settings table: every key with its default and grammar."""
    rows = ["| key | default | what a value must be |", "|---|---|---|"]
    for key in keys:
        default = "(required)" if key.default is None else f"`{key.default}`" if key.default else ""
        per_host = " (per host)" if key.per_host else ""
        rows.append(f"| `{key.name}`{per_host} | {default} | {key.grammar.replace('|', '/')} |")
    return "\n".join(rows) + "\n"
