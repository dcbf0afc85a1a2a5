"""The TURN server of the core host, for participants whose network lets only 443 out.

coturn (Debian's package, on the host: its relay ports are thousands of UDP ports Docker would
publish one by one, and media relayed from the host's own address needs no NAT) listens for
TURN on 3478, UDP and TCP. TLS on 443 is shared with the site: nginx's stream module routes by
the name a client asks for (SNI) without decrypting, the TURN name to a TLS end of its own that
holds the certificate the site's machinery keeps for that name (renewal reloads nginx, as for
the site) and hands the plain TURN stream to coturn on loopback; every other name to the site.

Prosody hands clients the servers with credentials that expire, made from one shared secret
(TURN_CREDENTIALS, the prosody image's own variables, prosody/rootfs/defaults/prosody.cfg.lua at
stable-11146-2 lines 33-41, 138-140, 352-414); coturn checks them with the same secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings.inventory import Host
from ..settings.secrets import Secret
from ..settings.site import Site

if TYPE_CHECKING:
    from .services import Placement

# Debian's coturn package makes this group and runs the service with it.
COTURN_GROUP = "turnserver"
TURN_SECRET = Secret("TURN_CREDENTIALS", lambda: secrets.token_urlsafe(32))
TURN_PORT = 3478
TURNS_PORT = 443
# The modules of the health check's TURN probe, shipped to the host (render/host.py).
TURN_PROBE_LIBRARY = ("__init__.py", "smoke/__init__.py", "smoke/turn.py")
# Where nginx ends TLS for the TURN name, and where the site listens behind the split.
TLS_END = "127.0.0.1:5349"
SITE_BEHIND_SPLIT = "127.0.0.1:4443"

# Peers a relay may never reach: this host's own and private networks (its containers, a
# cloud's metadata service, the LAN), so the TURN server is no way in. RFC 6890 special ranges.
DENIED_PEERS = (
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "224.0.0.0-255.255.255.255",
    "::1",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)


@dataclass(frozen=True)
class TurnServer:
    """What coturn's settings and the nginx split need.

    + hostname: the name clients ask for; the realm too.
    + relay_ip / external_ip: the address coturn relays from (one of the host's own) and the
      one it tells clients, when a cloud's NAT puts another in front ("" = the same).
    + first_port / last_port: the relay ports.
    + bridges: the addresses of the site's video bridges: media must reach them, even on a
      private network the rules above would refuse.
    + secret: the shared secret of the credentials.
    """

    hostname: str
    relay_ip: str
    external_ip: str
    first_port: int
    last_port: int
    bridges: tuple[str, ...]
    secret: str
    port: int = TURN_PORT


def turn_server(placement: Placement, addresses: tuple[str, ...] = ()) -> TurnServer | None:
    """The TURN server of the placement's host: on the core, when TURN_HOSTNAME is set.
    ``addresses``: the host's own IPv4 addresses, when known (see `relay_addresses`)."""
    host, site = placement.host, placement.site
    if host.role != "core" or not site.turn.enabled:
        return None
    bridges = tuple(dict.fromkeys(h.public_ip for h in (host, *placement.bridges)))
    relay_ip, external_ip = relay_addresses(host, addresses)
    return TurnServer(
        hostname=site.turn.hostname,
        relay_ip=relay_ip,
        external_ip=external_ip,
        first_port=site.turn.first_port,
        last_port=site.turn.last_port,
        bridges=bridges,
        secret=site.secrets[TURN_SECRET.name],
    )


def relay_addresses(host: Host, addresses: tuple[str, ...]) -> tuple[str, str]:
    """(relay_ip, external_ip): coturn relays from an address the host has. Where the public
    one is not among them (a cloud's 1:1 NAT), it relays from the private one (or the host's
    first) and tells clients the public one. Unknown addresses (a local render): the public."""
    if not addresses or host.public_ip in addresses:
        return host.public_ip, ""
    own = host.private_ip if host.private_ip in addresses else addresses[0]
    return own, host.public_ip


def prosody_environment(site: Site) -> dict[str, str]:
    """The prosody image's variables: TURN over TLS on 443 for clients that reach nothing else,
    TURN on 3478 over UDP and TCP for the others; credentials from TURN_CREDENTIALS (a secret,
    in the env file)."""
    if not site.turn.enabled:
        return {}
    name = site.turn.hostname
    return {
        "TURNS_HOST": name,
        "TURNS_PORT": str(TURNS_PORT),
        "TURN_HOST": name,
        "TURN_PORT": str(TURN_PORT),
        "TURN_TRANSPORT": "udp,tcp",
    }
