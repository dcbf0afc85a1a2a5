"""What Uptime Kuma should watch for a deployment, as plain data.

Pure on purpose: the wanted monitors and notifications are built from plain arguments (no
settings objects, no network), so the deploy can wire them in from wherever its settings live,
and the wanted set can be hashed: when the hash a host reports is unchanged, the deploy skips
Kuma's API altogether.

Every monitor and notification this project manages is named with PREFIX; that is how a run
tells its own monitors (edited, deleted when no longer wanted) from the ones a person made by
hand (never touched).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

PREFIX = "jitsi-deploy: "

# Uptime Kuma's monitor type ids.
HTTP = "http"
KEYWORD = "keyword"
WEBSOCKET_UPGRADE = "websocket-upgrade"
PUSH = "push"

# What Prosody answers a plain GET on its BOSH and websocket endpoints: seeing it proves the
# path reaches Prosody's module, not the web app's index page or an error page.
BOSH_KEYWORD = "It works! Now point your BOSH client to this URL"
WEBSOCKET_KEYWORD = "Now point your WebSocket client to this URL"

CHECK_INTERVAL = 60
# The health check runs every minute: three missed runs in a row mark the host down.
PUSH_INTERVAL = 180
# Kuma stores push tokens in a VARCHAR(20) column.
PUSH_TOKEN_LENGTH = 20
ROLES = ("core", "jvb")
# Part of the hash, so a change of how monitors are provisioned re-provisions every host once.
# 2: containers as push monitors from the health check, no Docker monitors (no socket in Kuma).
HASH_VERSION = 2


@dataclass(frozen=True)
class Monitor:
    """One Kuma monitor; only the fields this project manages (Kuma keeps its defaults for the
    rest). ``fallback`` is provisioned, under the same name, on a Kuma without ``type``."""

    name: str
    type: str
    url: str = ""
    keyword: str = ""
    interval: int = CHECK_INTERVAL
    expiry_notification: bool = False
    accepted_statuscodes: tuple[str, ...] = ("200-299",)
    ws_subprotocol: str = ""
    push_token: str = ""
    fallback: Monitor | None = None


@dataclass(frozen=True)
class Notification:
    """A Kuma notification provider; ``settings`` uses Kuma's field names for its ``type``."""

    name: str
    type: str
    settings: Mapping[str, str | int | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class HostSpec:
    """A deployed host as the monitors need it.

    ``push_token``: its health check's heartbeat; ``containers``: (service, push token) per
    container whose state the health check pushes (Kuma holds no Docker socket: whoever
    controls Kuma would be root on the host); ``bridges``: (nickname, push token) per bridge
    of the inventory whose presence in jicofo's brewery the core's health check pushes;
    ``turn``: the token of its TURN server's monitor, fed by the health check's allocations
    ("" = no TURN server; Kuma speaks no TURN itself).
    """

    name: str
    role: str
    push_token: str
    containers: tuple[tuple[str, str], ...] = ()
    bridges: tuple[tuple[str, str], ...] = ()
    turn: str = ""


@dataclass(frozen=True)
class Smtp:
    """Mail delivery for Kuma's alerts. ``implicit_tls`` is TLS from the first byte (port 465);
    without it Kuma upgrades with STARTTLS when the server offers it."""

    host: str
    sender: str
    recipients: str
    port: int = 587
    username: str = ""
    password: str = ""
    implicit_tls: bool = False


def wanted_monitors(
    *,
    public_url: str,
    monitor_hostname: str,
    hosts: Sequence[HostSpec],
) -> list[Monitor]:
    """Every monitor of a deployment: the site's on the core host; per host, a push monitor for
    its health check and one for each of its containers; on the core, one per bridge that its
    jicofo should see.

    BOSH and the websocket are derived from ``public_url`` as Jitsi's config.js derives them
    (so the meeting host name comes with it). ``monitor_hostname`` "" means no status site.
    """
    _check_hosts(hosts)
    base = public_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError(f"public_url must be an http(s) URL, not {public_url!r}")
    wanted: list[Monitor] = []
    for host in hosts:
        if host.role == "core":
            wanted += _site_monitors(host.name, base, monitor_hostname)
        wanted.append(_push_monitor(_name(host.name, "health check"), host.push_token))
        wanted += [
            _push_monitor(_name(host.name, f"container {service}"), token)
            for service, token in host.containers
        ]
        wanted += [
            _push_monitor(_name(host.name, f"bridge {nickname} in jicofo"), token)
            for nickname, token in host.bridges
        ]
        if host.turn:
            wanted.append(_push_monitor(_name(host.name, "TURN server"), host.turn))
    return wanted


def _check_hosts(hosts: Sequence[HostSpec]) -> None:
    names = [host.name for host in hosts]
    if len(set(names)) != len(names):
        raise ValueError(f"host names must be unique: {names}")
    for host in hosts:
        if host.role not in ROLES:
            raise ValueError(f"{host.name}: role {host.role!r} is not one of {ROLES}")
        tokens = [host.push_token, *(token for _, token in (*host.containers, *host.bridges))]
        if not all(tokens):
            raise ValueError(f"{host.name}: a push token is needed for each push monitor")
    if sum(host.role == "core" for host in hosts) > 1:
        raise ValueError("one core host per deployment: it runs the site and Kuma")


def _site_monitors(host: str, base: str, monitor_hostname: str) -> list[Monitor]:
    secure = base.startswith("https://")
    websocket_url = base.replace("http", "ws", 1) + "/xmpp-websocket"  # https: -> wss:
    websocket = _name(host, "XMPP websocket")
    monitors = [
        Monitor(_name(host, "site"), HTTP, url=f"{base}/", expiry_notification=secure),
        Monitor(_name(host, "BOSH"), KEYWORD, url=f"{base}/http-bind", keyword=BOSH_KEYWORD),
        Monitor(
            websocket,
            WEBSOCKET_UPGRADE,
            url=websocket_url,
            ws_subprotocol="xmpp",
            accepted_statuscodes=("1000",),  # the close code of a clean handshake
            # Without the websocket-upgrade type, a GET still proves that the route ends in
            # Prosody's websocket module (it cannot prove the Upgrade handshake itself).
            fallback=Monitor(
                websocket, KEYWORD, url=f"{base}/xmpp-websocket", keyword=WEBSOCKET_KEYWORD
            ),
        ),
    ]
    if monitor_hostname:
        status = f"https://{monitor_hostname}/"
        monitors.append(
            Monitor(_name(host, "status site"), HTTP, url=status, expiry_notification=True)
        )
    return monitors


def _push_monitor(name: str, token: str) -> Monitor:
    return Monitor(name, PUSH, interval=PUSH_INTERVAL, push_token=token)


def _name(host: str, what: str) -> str:
    return f"{PREFIX}{host}: {what}"


def wanted_notifications(*, webhook_url: str = "", smtp: Smtp | None = None) -> list[Notification]:
    """The alert channels every managed monitor notifies; none configured gives an empty list."""
    wanted = []
    if webhook_url:
        settings = {"webhookURL": webhook_url, "webhookContentType": "json"}
        wanted.append(Notification(f"{PREFIX}webhook", "webhook", settings))
    if smtp:
        settings = {
            "smtpHost": smtp.host,
            "smtpPort": smtp.port,
            "smtpSecure": smtp.implicit_tls,
            "smtpUsername": smtp.username,
            "smtpPassword": smtp.password,
            "smtpFrom": smtp.sender,
            "smtpTo": smtp.recipients,
        }
        wanted.append(Notification(f"{PREFIX}email", "smtp", settings))
    return wanted


def push_token(secret: str, host: str, service: str = "") -> str:
    """A host's push token (or, with ``service``, that of one of its containers), derived from a
    deployment secret (e.g. KUMA_ADMIN_PASSWORD).

    Derived, not stored: the deploy can render it into the host's health config before Kuma is
    reached, it stays the same on every run, and rotating the secret rotates every token.
    """
    subject = f"{host} {service}" if service else host  # neither name holds a space
    digest = hmac.new(secret.encode(), f"kuma push token {subject}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode().lower()[:PUSH_TOKEN_LENGTH]


def bridge_subject(nickname: str) -> str:
    """The ``service`` of push_token for the core's push about one bridge (a colon: no service
    name has one)."""
    return f"bridge:{nickname}"


def push_url(kuma_url: str, token: str) -> str:
    """The URL a host's health check calls each run (it appends ?status=…&msg=…).

    ``kuma_url``: ``http://127.0.0.1:3001`` on the host that runs Kuma, the public status site
    (``https://status.example.org``) from every other host.
    """
    return f"{kuma_url.rstrip('/')}/api/push/{token}"


def wanted_hash(monitors: Sequence[Monitor], notifications: Sequence[Notification] = ()) -> str:
    """A digest of the wanted set: equal digests mean a converge would change nothing (unless
    someone changed Kuma by hand since).

    Store it on the host after a converge whose report is ``settled``; a later deploy that
    computes the same digest can skip Kuma's API. Secrets in notification settings (an SMTP
    password) are hashed in with the rest: the stored digest shows no setting in clear.
    """
    document = {
        "version": HASH_VERSION,
        "monitors": [asdict(monitor) for monitor in monitors],
        "notifications": [asdict(notification) for notification in notifications],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
