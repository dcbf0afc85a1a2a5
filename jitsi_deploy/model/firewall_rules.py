"""The inbound rules of a host: which ports are open, from where, and why."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings.inventory import Host
from ..settings.site import Deployment
from .turn import TURN_PORT


@dataclass(frozen=True)
class Rule:
    """Inbound traffic to ``port`` (to ``last`` too, for a range) let in from ``source``."""

    port: int
    protocol: str
    source: str
    purpose: str
    last: int = 0

    @property
    def ports(self) -> range:
        return range(self.port, max(self.port, self.last) + 1)


def firewall_rules(deployment: Deployment, host: Host) -> tuple[Rule, ...]:
    """Inbound rules of ``host``; SSH first, so enabling the firewall never locks us out."""
    rules = [Rule(host.port, "tcp", "any", "ssh")]
    if host.role == "core":
        rules += [Rule(80, "tcp", "any", "http: ACME challenges, redirect to https")]
        rules += [Rule(443, "tcp", "any", "https: the meeting site and the monitor")]
    rules += [Rule(10000, "udp", "any", "media to the video bridge")]
    turn = deployment.sites[host.name].turn
    if host.role == "core" and turn.enabled:
        rules += [
            Rule(TURN_PORT, protocol, "any", f"turn over {protocol}") for protocol in ("udp", "tcp")
        ]
        rules += [
            Rule(turn.first_port, "udp", "any", "media relayed by turn", turn.last_port),
        ]
    if host.role == "core":
        rules += [
            Rule(5222, "tcp", bridge.private_ip, f"xmpp from the video bridge {bridge.name}")
            for bridge in deployment.hosts
            if bridge.role == "jvb"
        ]
    return tuple(rules)


def docker_published_rules(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """The rules for ports a container publishes to some sources only (5222 for the bridges):
    ufw and firewalld cannot limit those, so they go into Docker's DOCKER-USER chain."""
    return tuple(rule for rule in rules if rule.source != "any")


def closed_to_others(rules: tuple[Rule, ...]) -> list[tuple[int, str]]:
    """(port, protocol) of each such rule, refused to every source the rules do not name."""
    return sorted({(rule.port, rule.protocol) for rule in rules})
