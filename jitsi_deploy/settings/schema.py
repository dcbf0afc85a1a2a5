"""Every key `.env` may set: its group, default and one-line meaning.

`.env.example` is generated from these keys and those the services add (`invoke
settings-example`; a test fails when the file differs), and an unknown key in `.env` is an
error with a did-you-mean, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """One setting; ``default=None`` marks it required, ``per_host`` allows an override in the
    inventory, and ``example`` is what `.env.example` shows instead of the default."""

    name: str
    group: str
    default: str | None
    help: str
    per_host: bool = False
    example: str | None = None


KEYS: tuple[Key, ...] = (
    # site
    Key(
        "PUBLIC_URL",
        "site",
        None,
        "full public https address of the meeting site",
        example="https://meet.example.org",
    ),
    Key(
        "MONITOR_HOSTNAME",
        "site",
        None,
        "host name of the Uptime Kuma status site",
        example="status.example.org",
    ),
    Key("TZ", "site", "UTC", "time zone of the containers", per_host=True),
    # TLS
    Key("TLS_MODE", "tls", "letsencrypt", "letsencrypt, custom (your own files) or selfsigned"),
    Key(
        "LETSENCRYPT_EMAIL",
        "tls",
        "",
        "contact address for the ACME account (required with letsencrypt)",
        example="admin@example.org",
    ),
    Key("LETSENCRYPT_STAGING", "tls", "0", "1 = use the staging CA while testing"),
    Key("ACME_SERVER", "tls", "", "another ACME directory URL (a private CA); empty = default"),
    Key("TLS_CERT_FILE", "tls", "", "local certificate chain file (custom mode)"),
    Key("TLS_KEY_FILE", "tls", "", "local private key file (custom mode)"),
    # auth
    Key("ENABLE_AUTH", "auth", "0", "1 = only registered users may create rooms"),
    Key("AUTH_TYPE", "auth", "internal", "internal, jwt, ldap or matrix"),
    Key("ENABLE_GUESTS", "auth", "0", "1 = guests may join rooms once a user opened them"),
    # rooms
    Key(
        "PUBLIC_ROOMS",
        "rooms",
        "",
        "comma list of fixed rooms anyone with the link may join",
        example="daily-standup,team-meeting,weekly-review",
    ),
    Key("PRIVATE_ROOM_PREFIX", "rooms", "private-", "rooms starting with this need a password"),
    Key(
        "PRIVATE_ROOM_PASSWORD",
        "rooms",
        "",
        "default private room password; empty = generated (at least 12 characters)",
    ),
    Key("PRIVATE_ROOM_PASSWORDS", "rooms", "", "per-room passwords: room=password,room2=password"),
    Key("OTHER_ROOMS", "rooms", "allow", "every other room: allow, deny or password"),
    # monitoring
    Key("ENABLE_MONITORING", "monitoring", "1", "1 = run Uptime Kuma on the core host"),
    Key(
        "MONITOR_ALLOWED_NETWORKS",
        "monitoring",
        "",
        "comma list of CIDRs allowed to the monitor; empty = everyone (it has its own login)",
    ),
    Key("HEALTH_WEBHOOK_URL", "monitoring", "", "URL told of every health action; empty = none"),
    Key("HEALTH_FAILURES_BEFORE_ACTION", "monitoring", "2", "failed runs before a restart"),
    Key("HEALTH_MAX_RESTARTS_PER_HOUR", "monitoring", "3", "restarts per service per hour"),
    Key("KUMA_NOTIFY_WEBHOOK_URL", "monitoring", "", "URL Uptime Kuma posts its alerts to"),
    Key("KUMA_SMTP_HOST", "monitoring", "", "mail server for Uptime Kuma's alerts; empty = none"),
    Key("KUMA_SMTP_PORT", "monitoring", "587", "its port: 587 (STARTTLS) or 465 (TLS)"),
    Key("KUMA_SMTP_USER", "monitoring", "", "its login; empty = none"),
    Key("KUMA_SMTP_PASSWORD", "monitoring", "", "its password (you provide it)"),
    Key("KUMA_SMTP_FROM", "monitoring", "", "sender address of the alert mails"),
    Key("KUMA_SMTP_TO", "monitoring", "", "comma list of recipient addresses"),
    # images
    Key("JITSI_IMAGE_REPO", "images", "ghcr.io/jitsi", "registry path of the Jitsi images"),
    Key("JITSI_IMAGE_VERSION", "images", "stable-11146-2", "pinned Jitsi release tag"),
    Key("UPTIME_KUMA_IMAGE", "images", "louislam/uptime-kuma:2", "Uptime Kuma image"),
    Key("REGISTRY_MIRROR", "images", "", "Docker registry mirror URL; empty = none", per_host=True),
    Key(
        "IMAGE_SOURCE",
        "images",
        "pull",
        "pull (from the registry) or bundle (pushed over SSH)",
        per_host=True,
    ),
    # host set-up and tuning
    Key(
        "DOCKER_SOURCE",
        "tuning",
        "official",
        "official (Docker's repository) or distro",
        per_host=True,
    ),
    Key(
        "DOCKER_STORAGE_DRIVER",
        "tuning",
        "",
        "Docker storage driver; empty = Docker's choice",
        per_host=True,
    ),
    Key(
        "DOCKER_ADDRESS_POOL",
        "tuning",
        "",
        "CIDR Docker carves its networks from; empty = Docker's default",
        per_host=True,
    ),
    Key(
        "UDP_BUFFER_BYTES",
        "tuning",
        "10485760",
        "kernel UDP buffer maximum for the bridge",
        per_host=True,
    ),
    Key("NOFILE_LIMIT", "tuning", "65536", "open files per process", per_host=True),
    Key("ENABLE_FAIL2BAN", "tuning", "0", "1 = install fail2ban jails for nginx and sshd"),
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
