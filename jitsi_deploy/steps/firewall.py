"""The host firewall: ufw on Debian and Ubuntu, firewalld on the RHEL family.

Only missing rules become commands; every rule is added before the firewall is switched on, so
SSH (the ports sshd listens on and the inventory's) is open by then. Rules this project adds
to ufw carry a comment starting with OUR_MARK; only those are ever removed. Ports a container
publishes bypass both firewalls (Docker writes its own iptables chains): what the stack
publishes is open whatever these rules say.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import DeployError
from ..model.firewall_rules import Rule
from ..remote.commands import Command
from .changes import Change
from .facts import OS_RELEASE, SSH_PORTS, Fact, HostFacts, fixed, lines
from .step import PlanInput, Step

NAME = "firewall"
OUR_MARK = "jitsi-deploy:"


class Opening(NamedTuple):
    """Inbound traffic a firewall lets in: a port, its protocol, and "any" or a source address."""

    port: int
    protocol: str
    source: str


@dataclass(frozen=True)
class FirewallState:
    """What a firewall does now.

    + active: it filters traffic.
    + allowed: every opening some rule grants.
    + ours: the openings granted by rules marked as this project's (ufw only: firewalld has no
      comments, so nothing there is ever removed).
    + default_allows: traffic no rule matches is let in.
    """

    active: bool
    allowed: frozenset[Opening]
    ours: frozenset[Opening] = frozenset()
    default_allows: bool = False


# Services of the packaged firewalld that cover ports of ours; others are ignored, which at
# worst adds an equal rule.
FIREWALLD_SERVICES = {"ssh": ((22, "tcp"),), "http": ((80, "tcp"),), "https": ((443, "tcp"),)}

UFW_TUPLE = "### tuple ### "
ANYWHERE = ("0.0.0.0/0", "::/0")
PORT_SPEC = re.compile(r"^(?P<ports>[\d,:-]+)(?:/(?P<protocol>tcp|udp))?$")


def openings(rule: Rule) -> frozenset[Opening]:
    return frozenset(Opening(port, rule.protocol, rule.source) for port in rule.ports)


def port_spec(rule: Rule, dash: str = ":") -> str:
    """The rule's port or range as a firewall writes it: 3478, 49152:49651 (ufw) or
    49152-49651 (firewalld)."""
    ports = rule.ports
    return str(ports.start) if len(ports) == 1 else f"{ports.start}{dash}{ports.stop - 1}"


def port_openings(spec: str, source: str) -> set[Opening]:
    """A port spec as the firewalls print it: 22/tcp, 22 (both protocols), 80,443/tcp,
    60000:61000/udp (ufw), 60000-61000/udp (firewalld); nothing for a profile or a host."""
    match = PORT_SPEC.match(spec)
    if not match:
        return set()
    protocols = [match["protocol"]] if match["protocol"] else ["tcp", "udp"]
    ports: set[int] = set()
    for part in match["ports"].split(","):
        first, _, last = re.split(r"([:-])", part) if re.search(r"[:-]", part) else (part, "", part)
        ports.update(range(int(first), int(last) + 1))
    return {Opening(port, protocol, source) for port in ports for protocol in protocols}


def parse_ufw(lines: Iterable[str]) -> FirewallState:
    """The state as ufw keeps it (UFW_STATE's lines): loaded or not, the default for incoming
    traffic, and its rules as the tuples it writes above each in its rules files."""
    active = default_allows = False
    allowed: set[Opening] = set()
    ours: set[Opening] = set()
    for line in lines:
        if line.startswith("ufw "):
            key, _, value = line[4:].partition(" ")
            active |= key == "active"
            default_allows |= key == "default" and value.strip('"') == "ACCEPT"
        elif line.startswith(UFW_TUPLE):
            openings, comment = ufw_tuple_openings(line[len(UFW_TUPLE) :].split())
            allowed |= openings
            if comment.startswith(OUR_MARK):
                ours |= openings
    return FirewallState(active, frozenset(allowed), frozenset(ours), default_allows)


def ufw_tuple_openings(fields: list[str]) -> tuple[set[Opening], str]:
    """What one rule lets in, and its comment: "action protocol port destination source-port
    source [app app] direction [comment=hex]". Nothing for deny, reject, routed and outbound
    rules, nor for rules bound to an interface, a destination address or a source port."""
    comment = ""
    if fields[-1].startswith("comment="):
        comment = bytes.fromhex(fields[-1].removeprefix("comment=")).decode()
        fields = fields[:-1]
    action, protocol, port, destination, source_port, source = fields[:6]
    if action.partition("_")[0] not in ("allow", "limit") or fields[-1] != "in":
        return set(), comment
    # "Anywhere" is both files' rule; the IPv4 half is the one that must be there.
    if source == "::/0" or destination not in ANYWHERE or source_port != "any":
        return set(), comment
    source = "any" if source in ANYWHERE else source
    spec = port if protocol == "any" else f"{port}/{protocol}"
    return port_openings(spec, source), comment


def parse_firewalld(lines: Iterable[str]) -> FirewallState:
    """The state shown by `firewall-cmd --list-all` (the default zone); no lines when firewalld
    is not running."""
    fields: dict[str, list[str]] = {}
    rich_rules: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("rule "):
            rich_rules.append(text)
        elif ":" in text:
            key, _, value = text.partition(":")
            fields[key] = value.split()
    allowed: set[Opening] = set()
    for service in fields.get("services", []):
        allowed |= {Opening(p, proto, "any") for p, proto in FIREWALLD_SERVICES.get(service, ())}
    for spec in fields.get("ports", []):
        allowed |= port_openings(spec, "any")
    for rule in rich_rules:
        allowed |= rich_rule_openings(rule)
    return FirewallState(
        active="target" in fields,
        allowed=frozenset(allowed),
        default_allows=fields.get("target") == ["ACCEPT"],
    )


def rich_rule_openings(rule: str) -> set[Opening]:
    """What an accepting rich rule lets in, e.g.
    `rule family="ipv4" source address="203.0.113.7" port port="5222" protocol="tcp" accept`;
    nothing for inverted sources, ipsets, destinations or other actions."""
    words = shlex.split(rule)
    if "accept" not in words or {"not", "destination"} & set(words):
        return set()
    attributes: dict[str, str] = {}
    element = ""
    for word in words:
        key, equals, value = word.partition("=")
        if equals:
            attributes[f"{element}.{key}"] = value
        else:
            element = word
    if "source.ipset" in attributes or "source.mac" in attributes:
        return set()
    source = attributes.get("source.address", "any")
    if "port.port" in attributes:
        return port_openings(f"{attributes['port.port']}/{attributes['port.protocol']}", source)
    services = FIREWALLD_SERVICES.get(attributes.get("service.name", ""), ())
    return {Opening(port, protocol, source) for port, protocol in services}


# What ufw or firewalld (whichever is there) does now. ufw's own `ufw status` took 75 ms of a
# no-op deploy's facts (a Python program calling iptables six times); it reads the same: its
# chains loaded or not, and the rules files it writes.
UFW_STATE = (
    "iptables -n -L ufw-user-input >/dev/null 2>&1 && echo 'ufw active' || echo 'ufw inactive'; "
    "sed -n 's/^DEFAULT_INPUT_POLICY=/ufw default /p' /etc/default/ufw; "
    "grep -h '^### tuple ###' /etc/ufw/user.rules /etc/ufw/user6.rules"
)
FIREWALL_STATE = Fact(
    "firewall",
    fixed(
        f"if [ -e /etc/ufw/user.rules ]; then {UFW_STATE}; "
        "else firewall-cmd --list-all 2>/dev/null; fi"
    ),
    lines,
)


def firewall_changes(facts: HostFacts, rules: tuple[Rule, ...]) -> list[Change]:
    """What makes the host's firewall grant exactly ``rules`` (and SSH); [] when it does."""
    os = facts[OS_RELEASE]
    planner = PLANNERS.get(os.family)
    if planner is None:
        raise DeployError(
            f"no firewall support for {os.id or 'this system'} {os.version}: "
            "ufw is used on Debian and Ubuntu, firewalld on Rocky, Alma and CentOS Stream"
        )
    return planner(facts[FIREWALL_STATE], wanted_rules(facts[SSH_PORTS], rules))


def wanted_rules(ssh_ports: tuple[int, ...], rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """``rules`` with the ports sshd listens on first, each opening once: a host whose sshd
    moved away from the inventory port must not be locked out."""
    listening = (Rule(port, "tcp", "any", "ssh: a port sshd listens on") for port in ssh_ports)
    by_opening: dict[frozenset[Opening], Rule] = {}
    for rule in (*rules, *listening):
        by_opening.setdefault(openings(rule), rule)
    ssh_first = sorted(by_opening.values(), key=lambda r: r.port not in ssh_ports)
    return tuple(ssh_first)


def describe(rule: Rule) -> str:
    return f"{port_spec(rule)}/{rule.protocol} from {rule.source} ({rule.purpose})"


def ufw_changes(lines: tuple[str, ...], wanted: tuple[Rule, ...]) -> list[Change]:
    state = parse_ufw(lines)
    missing = [rule for rule in wanted if not openings(rule) <= state.allowed]
    commands = [ufw_allow(rule) for rule in missing]
    detail = [f"allow {describe(rule)}" for rule in missing]
    if not state.active or state.default_allows:
        # An inactive ufw shows no defaults; whatever they are, incoming must be denied.
        commands.append(Command(("ufw", "default", "deny", "incoming"), "deny incoming by default"))
        detail.append("deny incoming traffic no rule allows")
    if not state.active:
        commands.append(Command(("ufw", "--force", "enable"), "enable ufw"))
        detail.append("enable ufw")
    changes = []
    if commands:
        summary = "enable ufw" if not state.active else "update ufw"
        changes.append(
            Change(
                NAME, f"{summary}: {len(missing)} rules to add", tuple(commands), "\n".join(detail)
            )
        )
    stale = stale_rules(state.ours - frozenset().union(*map(openings, wanted)))
    if stale:
        changes.append(
            Change(
                NAME,
                f"remove {len(stale)} ufw rules jitsi-deploy added and no longer wants",
                tuple(ufw_delete(rule) for rule in stale),
                "\n".join(f"remove {port_spec(r)}/{r.protocol} from {r.source}" for r in stale),
            )
        )
    return changes


def ufw_allow(rule: Rule) -> Command:
    return Command(
        (
            *("ufw", "allow", "proto", rule.protocol, "from", rule.source),
            *("to", "any", "port", port_spec(rule), "comment", f"{OUR_MARK} {rule.purpose}"),
        ),
        f"allow {describe(rule)}",
    )


def stale_rules(stale: frozenset[Opening]) -> list[Rule]:
    """The rules of ours to delete, each run of neighbouring ports one range again: ufw
    deletes a rule as it was added (a relay range is one rule, not a rule per port)."""
    rules: list[Rule] = []
    for found in sorted(stale, key=lambda o: (o.protocol, o.source, o.port)):
        last = rules[-1] if rules else None
        same_rule = last and (last.protocol, last.source) == (found.protocol, found.source)
        if last and same_rule and found.port == last.ports.stop:
            rules[-1] = Rule(last.port, last.protocol, last.source, "", found.port)
            continue
        rules.append(Rule(found.port, found.protocol, found.source, ""))
    return rules


def ufw_delete(rule: Rule) -> Command:
    # ufw matches the rule without its comment and removes the IPv6 twin along with it.
    spec = f"{port_spec(rule)}/{rule.protocol} from {rule.source}"
    return Command(
        (
            *("ufw", "delete", "allow", "proto", rule.protocol, "from", rule.source),
            *("to", "any", "port", port_spec(rule)),
        ),
        f"remove the rule allowing {spec}",
    )


def firewalld_changes(lines: tuple[str, ...], wanted: tuple[Rule, ...]) -> list[Change]:
    state = parse_firewalld(lines)
    missing = [rule for rule in wanted if not openings(rule) <= state.allowed]
    detail = [f"allow {describe(rule)}" for rule in missing]
    if state.active:
        # Runtime and permanent alike: a reload would drop the runtime rules a person added.
        commands = [
            Command((*tool, firewalld_option(rule)), f"allow {describe(rule)}{when}")
            for rule in missing
            for tool, when in (
                (("firewall-cmd", "--permanent"), " (permanent)"),
                (("firewall-cmd",), " (now)"),
            )
        ]
    else:
        # firewalld is stopped: edit its permanent configuration, then start it.
        commands = [
            Command(("firewall-offline-cmd", firewalld_option(rule)), f"allow {describe(rule)}")
            for rule in missing
        ]
        commands.append(Command(("systemctl", "enable", "--now", "firewalld"), "enable firewalld"))
        detail.append("enable firewalld")
    if state.default_allows:
        # The zone's target is set only in the permanent configuration and applied by a reload.
        commands += [
            Command(("firewall-cmd", "--permanent", "--set-target=default"), "reject by default"),
            Command(("firewall-cmd", "--reload"), "apply the zone's new target"),
        ]
        detail.append("reject incoming traffic no rule allows")
    if not commands:
        return []
    summary = "update firewalld" if state.active else "enable firewalld"
    return [
        Change(NAME, f"{summary}: {len(missing)} rules to add", tuple(commands), "\n".join(detail))
    ]


def firewalld_option(rule: Rule) -> str:
    if rule.source == "any":
        return f"--add-port={port_spec(rule, '-')}/{rule.protocol}"
    family = "ipv6" if ":" in rule.source else "ipv4"
    return (
        f'--add-rich-rule=rule family="{family}" source address="{rule.source}" '
        f'port port="{port_spec(rule, "-")}" protocol="{rule.protocol}" accept'
    )


PLANNERS: dict[str, Callable[[tuple[str, ...], tuple[Rule, ...]], list[Change]]] = {
    "debian": ufw_changes,
    "rhel": firewalld_changes,
}


def plan(given: PlanInput) -> list[Change]:
    return firewall_changes(given.facts, given.rendered.firewall)


STEP = Step(NAME, (OS_RELEASE, SSH_PORTS, FIREWALL_STATE), plan)
