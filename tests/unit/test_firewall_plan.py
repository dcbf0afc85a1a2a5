"""Captured ufw and firewalld output in, firewall commands out: SSH before the firewall goes on,
only missing rules added, only this project's stale rules removed."""

from __future__ import annotations

import pytest

from jitsi_deploy.errors import DeployError
from jitsi_deploy.model.firewall_rules import Rule
from jitsi_deploy.steps.facts import OS_RELEASE, SSH_PORTS, HostFacts, OsRelease
from jitsi_deploy.steps.firewall import (
    FIREWALL_STATE,
    Opening,
    firewall_changes,
    parse_firewalld,
    parse_ufw,
)

BRIDGE_IP = "203.0.113.7"
RULES = (
    Rule(22, "tcp", "any", "ssh"),
    Rule(80, "tcp", "any", "http"),
    Rule(443, "tcp", "any", "https"),
    Rule(10000, "udp", "any", "media"),
    Rule(5222, "tcp", BRIDGE_IP, "xmpp from jvb1"),
)


def ours(purpose: str) -> str:
    """The comment of one of this project's rules, as ufw keeps it (hex)."""
    return "comment=" + f"jitsi-deploy: {purpose}".encode().hex()


# A person's rule with a comment of their own: "node exporter for the office".
OFFICE = "comment=6e6f6465206578706f7274657220666f7220746865206f6666696365"
UFW_INACTIVE = 'ufw inactive\nufw default "DROP"\n'

# A core host as this project leaves it, plus rules a person made: OpenSSH by profile, a
# monitoring port from an office network, a denied port, and an IPv6 twin of every rule. The
# lines as the facts read them: ufw's state, then the tuples of user.rules and user6.rules
# (ufw 0.36.2 on Debian 12 wrote these).
UFW_ACTIVE = f"""\
ufw active
ufw default "DROP"
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in
### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in {ours("http")}
### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in {ours("https")}
### tuple ### allow udp 10000 0.0.0.0/0 any 0.0.0.0/0 in {ours("media")}
### tuple ### allow tcp 5222 0.0.0.0/0 any 203.0.113.7 in {ours("xmpp from jvb1")}
### tuple ### allow tcp 9100 0.0.0.0/0 any 192.0.2.0/24 in {OFFICE}
### tuple ### deny any 3306 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### allow tcp 22 ::/0 any ::/0 OpenSSH - in
### tuple ### allow tcp 80 ::/0 any ::/0 in {ours("http")}
### tuple ### allow tcp 443 ::/0 any ::/0 in {ours("https")}
### tuple ### allow udp 10000 ::/0 any ::/0 in {ours("media")}
### tuple ### deny any 3306 ::/0 any ::/0 in
"""

# A Rocky 9 server with firewalld running and its default zone untouched (firewall-cmd also
# prints a space after each empty field; the facts parser strips it).
FIREWALLD_FRESH = """\
public (active)
  target: default
  icmp-block-inversion: no
  interfaces: eth0
  sources:
  services: cockpit dhcpv6-client ssh
  ports:
  protocols:
  forward: yes
  masquerade: no
  forward-ports:
  source-ports:
  icmp-blocks:
  rich rules:
"""

FIREWALLD_DONE = """\
public (active)
  target: default
  icmp-block-inversion: no
  interfaces: eth0
  sources:
  services: cockpit dhcpv6-client ssh http
  ports: 443/tcp 10000/udp
  protocols:
  forward: yes
  masquerade: no
  forward-ports:
  source-ports:
  icmp-blocks:
  rich rules:
	rule family="ipv4" source address="203.0.113.7" port port="5222" protocol="tcp" accept
"""


def host(family: str, firewall: str, ssh_ports: tuple[int, ...] = (22,)) -> HostFacts:
    os_id = {"debian": "debian", "rhel": "rocky", "": "arch"}[family]
    version = {"debian": "12", "rhel": "9.4", "": ""}[family]
    return HostFacts(
        {
            OS_RELEASE.name: OsRelease(os_id, version, family),
            SSH_PORTS.name: ssh_ports,
            FIREWALL_STATE.name: tuple(
                line.rstrip() for line in firewall.splitlines() if line.strip()
            ),
        }
    )


def argvs(facts: HostFacts, rules: tuple[Rule, ...] = RULES) -> list[tuple[str, ...]]:
    return [c.argv for change in firewall_changes(facts, rules) for c in change.commands]


def ufw_allow(port: int, protocol: str, source: str, purpose: str) -> tuple[str, ...]:
    return (
        *("ufw", "allow", "proto", protocol, "from", source),
        *("to", "any", "port", str(port), "comment", f"jitsi-deploy: {purpose}"),
    )


# parsers


def test_inactive_ufw_shows_nothing_allowed() -> None:
    state = parse_ufw(UFW_INACTIVE.splitlines())
    assert not state.active
    assert state.allowed == frozenset()


def test_active_ufw_is_read_with_profiles_sources_and_our_marks() -> None:
    state = parse_ufw(UFW_ACTIVE.splitlines())
    assert state.active
    assert not state.default_allows
    assert state.allowed == {
        Opening(22, "tcp", "any"),
        Opening(80, "tcp", "any"),
        Opening(443, "tcp", "any"),
        Opening(10000, "udp", "any"),
        Opening(5222, "tcp", BRIDGE_IP),
        Opening(9100, "tcp", "192.0.2.0/24"),
    }
    assert state.ours == state.allowed - {
        Opening(22, "tcp", "any"),
        Opening(9100, "tcp", "192.0.2.0/24"),
    }


def anywhere(*ports: tuple[int, str]) -> set[Opening]:
    return {Opening(port, protocol, "any") for port, protocol in ports}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("allow any 22 0.0.0.0/0 any 0.0.0.0/0 in", anywhere((22, "tcp"), (22, "udp"))),
        ("limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", anywhere((22, "tcp"))),
        ("allow_log tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", anywhere((22, "tcp"))),
        ("allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 in", anywhere((80, "tcp"), (443, "tcp"))),
        (
            "allow udp 10000:10001 0.0.0.0/0 any 0.0.0.0/0 in",
            anywhere((10000, "udp"), (10001, "udp")),
        ),
        (
            "allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 Nginx%20Full - in",
            anywhere((80, "tcp"), (443, "tcp")),
        ),
        ("allow tcp 22 ::/0 any 2001:db8::7 in", {Opening(22, "tcp", "2001:db8::7")}),
        ("allow udp 22 0.0.0.0/0 any 10.0.0.10 in", {Opening(22, "udp", "10.0.0.10")}),
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0", set()),
        ("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 out", set()),
        ("reject tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", set()),
        ("deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", set()),
        ("route:allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", set()),
        ("allow tcp 22 10.0.0.5 any 0.0.0.0/0 in", set()),
        ("allow tcp 22 0.0.0.0/0 1234 10.0.0.9 in", set()),
        ("allow tcp 22 ::/0 any ::/0 in", set()),
        ("allow any any 0.0.0.0/0 any 10.0.0.9 in", set()),
    ],
)
def test_ufw_rule_tuples(line: str, expected: set[Opening]) -> None:
    """Each kind of rule as ufw 0.36.2 wrote it on Debian 12 (made with `ufw allow ...`)."""
    assert parse_ufw(["ufw active", f"### tuple ### {line}"]).allowed == expected


def test_ufw_default_allow_incoming_is_noticed() -> None:
    state = parse_ufw(["ufw active", 'ufw default "ACCEPT"'])
    assert state.default_allows


def test_firewalld_is_read_from_services_ports_and_rich_rules() -> None:
    state = parse_firewalld(FIREWALLD_DONE.splitlines())
    assert state.active
    assert not state.default_allows
    assert state.allowed == {
        Opening(22, "tcp", "any"),
        Opening(80, "tcp", "any"),
        Opening(443, "tcp", "any"),
        Opening(10000, "udp", "any"),
        Opening(5222, "tcp", BRIDGE_IP),
    }
    assert state.ours == frozenset()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            'rule family="ipv6" source address="2001:db8::7" service name="https" accept',
            {Opening(443, "tcp", "2001:db8::7")},
        ),
        (
            'rule family="ipv4" port port="10000-10001" protocol="udp" accept',
            {Opening(10000, "udp", "any"), Opening(10001, "udp", "any")},
        ),
        (
            'rule family="ipv4" source address="198.51.100.1" port port="22" protocol="tcp" drop',
            set(),
        ),
        ('rule family="ipv4" source not address="198.51.100.1" service name="ssh" accept', set()),
        ('rule family="ipv4" source ipset="office" service name="ssh" accept', set()),
    ],
)
def test_firewalld_rich_rules(rule: str, expected: set[Opening]) -> None:
    state = parse_firewalld(["public (active)", "  target: default", "  rich rules: ", f"\t{rule}"])
    assert state.allowed == expected


def test_stopped_firewalld_prints_nothing_and_is_inactive() -> None:
    assert not parse_firewalld([]).active


# ufw plans


def test_inactive_ufw_allows_every_rule_and_ssh_before_it_is_enabled() -> None:
    assert argvs(host("debian", UFW_INACTIVE)) == [
        ufw_allow(22, "tcp", "any", "ssh"),
        ufw_allow(80, "tcp", "any", "http"),
        ufw_allow(443, "tcp", "any", "https"),
        ufw_allow(10000, "udp", "any", "media"),
        ufw_allow(5222, "tcp", BRIDGE_IP, "xmpp from jvb1"),
        ("ufw", "default", "deny", "incoming"),
        ("ufw", "--force", "enable"),
    ]


def test_a_moved_sshd_port_is_allowed_first_along_with_the_inventory_port() -> None:
    commands = argvs(host("debian", UFW_INACTIVE, ssh_ports=(2222,)))
    assert commands[:2] == [
        ufw_allow(2222, "tcp", "any", "ssh: a port sshd listens on"),
        ufw_allow(22, "tcp", "any", "ssh"),
    ]
    assert commands[-1] == ("ufw", "--force", "enable")


def test_ufw_with_everything_in_place_needs_no_change() -> None:
    assert firewall_changes(host("debian", UFW_ACTIVE), RULES) == []


def test_active_ufw_gets_only_the_missing_rule_and_no_enable() -> None:
    without_media = "\n".join(line for line in UFW_ACTIVE.splitlines() if "udp 10000" not in line)
    [change] = firewall_changes(host("debian", without_media), RULES)
    assert [c.argv for c in change.commands] == [
        ufw_allow(10000, "udp", "any", "media"),
    ]
    assert change.step == "firewall"
    assert change.detail == "allow 10000/udp from any (media)"


def test_ufw_letting_everything_in_by_default_is_set_to_deny() -> None:
    allowing = UFW_ACTIVE.replace('"DROP"', '"ACCEPT"')
    assert argvs(host("debian", allowing)) == [("ufw", "default", "deny", "incoming")]


def test_our_rule_for_a_removed_bridge_is_deleted_and_user_rules_are_untouched() -> None:
    moved = (*RULES[:-1], Rule(5222, "tcp", "198.51.100.9", "xmpp from jvb2"))
    changes = firewall_changes(host("debian", UFW_ACTIVE), moved)
    assert [[c.argv for c in change.commands] for change in changes] == [
        [ufw_allow(5222, "tcp", "198.51.100.9", "xmpp from jvb2")],
        [
            (
                "ufw",
                "delete",
                "allow",
                "proto",
                "tcp",
                "from",
                BRIDGE_IP,
                "to",
                "any",
                "port",
                "5222",
            )
        ],
    ]
    assert changes[1].detail == f"remove 5222/tcp from {BRIDGE_IP}"


def test_a_port_sshd_listens_on_is_never_removed_even_if_ours() -> None:
    ours_on_2222 = UFW_ACTIVE.replace(
        "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in",
        f"allow tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in {ours('ssh')}",
    )
    rules = (Rule(2222, "tcp", "any", "ssh"), *RULES[1:])
    assert firewall_changes(host("debian", ours_on_2222, ssh_ports=(2222,)), rules) == []
    inventory_moved = (Rule(22, "tcp", "any", "ssh"), *RULES[1:])
    [change] = firewall_changes(host("debian", ours_on_2222, ssh_ports=(2222,)), inventory_moved)
    assert [c.argv for c in change.commands] == [ufw_allow(22, "tcp", "any", "ssh")]


# firewalld plans


def test_stopped_firewalld_is_configured_offline_then_started() -> None:
    assert argvs(host("rhel", "")) == [
        ("firewall-offline-cmd", "--add-port=22/tcp"),
        ("firewall-offline-cmd", "--add-port=80/tcp"),
        ("firewall-offline-cmd", "--add-port=443/tcp"),
        ("firewall-offline-cmd", "--add-port=10000/udp"),
        (
            "firewall-offline-cmd",
            '--add-rich-rule=rule family="ipv4" source address="203.0.113.7" '
            'port port="5222" protocol="tcp" accept',
        ),
        ("systemctl", "enable", "--now", "firewalld"),
    ]


def test_running_firewalld_gets_missing_rules_permanently_and_now() -> None:
    commands = argvs(host("rhel", FIREWALLD_FRESH), RULES[:2])
    assert commands == [
        ("firewall-cmd", "--permanent", "--add-port=80/tcp"),
        ("firewall-cmd", "--add-port=80/tcp"),
    ]


def test_firewalld_with_everything_in_place_needs_no_change() -> None:
    assert firewall_changes(host("rhel", FIREWALLD_DONE), RULES) == []


def test_firewalld_accepting_everything_gets_the_default_target() -> None:
    accepting = FIREWALLD_DONE.replace("target: default", "target: ACCEPT")
    assert argvs(host("rhel", accepting)) == [
        ("firewall-cmd", "--permanent", "--set-target=default"),
        ("firewall-cmd", "--reload"),
    ]


def test_an_ipv6_bridge_gets_an_ipv6_rich_rule() -> None:
    rules = (Rule(5222, "tcp", "2001:db8::7", "xmpp from jvb1"),)
    assert argvs(host("rhel", FIREWALLD_DONE), rules)[0] == (
        "firewall-cmd",
        "--permanent",
        '--add-rich-rule=rule family="ipv6" source address="2001:db8::7" '
        'port port="5222" protocol="tcp" accept',
    )


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(DeployError, match="no firewall support for arch"):
        firewall_changes(host("", ""), RULES)
