"""The host nginx in front of the stack: its site settings and how it is tested and reloaded.

The site always names the stable certificate paths of `tls.py` (symlinks the deploy manages), so
the rendered configuration never depends on whether a certificate was obtained yet: nginx starts
with the self-signed placeholder and keeps running when Let's Encrypt is unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from ..settings.site import Site
from . import paths
from .turn import SITE_BEHIND_SPLIT

Http2Style = Literal["listen", "directive"]


def cert_paths(name: str, tls_root: str = paths.TLS_ROOT) -> tuple[str, str]:
    """The stable (fullchain, privkey) paths nginx reads for a host name."""
    base = PurePosixPath(tls_root) / name
    return str(base / "fullchain.pem"), str(base / "privkey.pem")


@dataclass(frozen=True)
class ProxySettings:
    """What the site template needs; rendered as `render_template(SITE_TEMPLATE, proxy=...)`.

    + meet_host / monitor_host: public names of Jitsi Meet and of Uptime Kuma ("" = no monitor).
    + web_upstream / monitor_upstream: where the containers are published on the host.
    + monitor_allow: client networks (CIDRs) allowed to reach the monitor; empty = everyone.
    + kuma_ready: the status site answers 503 until this file exists (the deploy makes it once
      Kuma's admin exists).
    + acme_webroot: directory served at /.well-known/acme-challenge/ on port 80.
    + tls_root: holds <name>/fullchain.pem and <name>/privkey.pem symlinks (steps/certificates).
    + websocket_rate / bosh_rate: requests per second per client IP on /xmpp-websocket (one
      handshake per participant) and /http-bind (BOSH polls continuously, so it gets more).
    + burst: requests above the rate accepted at once: 50 people behind one NAT joining together
      fit; a flood does not.
    + conns_per_ip: concurrent XMPP requests per client IP (a websocket holds one all meeting).
    + http_listen / https_listen: nginx `listen` addresses (a multi-IP host can pin one).
    + http2_style: "listen" (`listen … http2`, nginx < 1.25.1) or "directive" (`http2 on;`);
      see `http2_style_for`.
    + hsts_max_age: seconds; 0 leaves HSTS out (for a first try with a self-signed cert).
    + frame_ancestors: CSP frame-ancestors sources of the meeting site; () sends none, as
      upstream Jitsi, so the iframe API and the desktop app can embed it (FRAME_ANCESTORS).
      The status site always allows only itself: its admin pages must not be framed.
    + names_bucket_size: server_names_hash_bucket_size for the names (set above 64 only).
    + fail2ban: write this site's errors, among them nginx's "limiting requests" refusals, to
      `fail2ban_log` for a jail with fail2ban's stock nginx-limit-req filter.
    + turn_host: the TURN server's name ("" = none). With one, 443 belongs to nginx's stream
      split (templates/nginx/jitsi-stream.conf.j2, model/turn.py): the sites listen behind it
      on loopback and learn each client's address from the split's PROXY header.
    """

    meet_host: str
    monitor_host: str = ""
    web_upstream: str = "127.0.0.1:8000"
    monitor_upstream: str = "127.0.0.1:3001"
    monitor_allow: tuple[str, ...] = ()
    kuma_ready: str = paths.KUMA_READY
    acme_webroot: str = paths.ACME_WEBROOT
    tls_root: str = paths.TLS_ROOT
    websocket_rate: int = 10
    bosh_rate: int = 60
    burst: int = 200
    conns_per_ip: int = 200
    http_listen: tuple[str, ...] = ("80", "[::]:80")
    https_listen: tuple[str, ...] = ("443", "[::]:443")
    http2_style: Http2Style = "listen"
    hsts_max_age: int = 63072000
    frame_ancestors: tuple[str, ...] = ()
    fail2ban: bool = False
    fail2ban_log: str = "/var/log/nginx/jitsi-meet.error.log"
    turn_host: str = ""

    def host_names(self) -> tuple[str, ...]:
        """Every name with a certificate: the sites' and the TURN server's."""
        return tuple(filter(None, (self.meet_host, self.monitor_host, self.turn_host)))

    @property
    def site_listen(self) -> tuple[str, ...]:
        """Where the https sites listen: 443 itself, or behind the stream split."""
        if self.turn_host:
            return (f"{SITE_BEHIND_SPLIT} proxy_protocol",)
        return self.https_listen

    @property
    def names_bucket_size(self) -> int:
        """nginx's server_names_hash_bucket_size fitting the longest name: each entry takes the
        name, its length and a pointer, rounded up; the next power of two, at least 64 (nginx's
        default on 64-bit machines, which the site leaves alone)."""
        needed = max(map(len, self.host_names())) + 2 + 8
        size = 64
        while size < needed:
            size *= 2
        return size

    def cert(self, name: str) -> tuple[str, str]:
        return cert_paths(name, self.tls_root)


@dataclass(frozen=True)
class NginxControl:
    """How to check and reload the host's nginx (a test runs its own instance instead)."""

    test: tuple[str, ...] = ("nginx", "-t", "-q")
    # reload-or-restart also starts an nginx that is not running yet (RHEL does not start it).
    reload: tuple[str, ...] = ("systemctl", "reload-or-restart", "nginx")


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
        frame_ancestors=site.frame_ancestors,
        turn_host=site.turn.hostname,
    )
