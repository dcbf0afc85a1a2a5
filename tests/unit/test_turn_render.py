"""TURN_HOSTNAME from settings to files, firewall, packages and reactions, without a server; the
real coturn, nginx and Prosody are the e2e module's (tests/e2e/test_turn.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy import monitoring
from jitsi_deploy.errors import ConfigError, DeployError, ValidationError
from jitsi_deploy.model import paths
from jitsi_deploy.model.firewall_rules import Rule
from jitsi_deploy.model.managed import File
from jitsi_deploy.model.turn import relay_addresses
from jitsi_deploy.operations.uninstall import machinery
from jitsi_deploy.render.host import Rendered, render_host
from jitsi_deploy.render.validate import validate
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import RemoteFile
from jitsi_deploy.steps.facts import OS_RELEASE, SYSTEM_SERVICES, HostFacts, OsRelease
from jitsi_deploy.steps.files import DAEMON_JSON, MANAGED, file_changes
from jitsi_deploy.steps.firewall import firewall_changes
from jitsi_deploy.steps.handlers import HOST_ORDER, reaction_changes
from jitsi_deploy.steps.packages import INSTALLED, package_changes, plan
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import REPO, rendered, site_with
from tests.unit.test_firewall_plan import host, ours

CORE, BRIDGE = "meet.example.org", "jvb1.example.org"
TURN = "turn.example.org"
TURN_FILES = (paths.TURN_CONFIG, paths.COTURN_DROPIN, paths.NGINX_STREAM)


@pytest.fixture
def turned_on(tmp_path: Path) -> tuple[Rendered, Rendered]:
    deployment = site_with(tmp_path, TURN_HOSTNAME=TURN, TURN_RELAY_PORTS="50000-50099")
    return rendered(deployment, CORE), rendered(deployment, BRIDGE)


def text(host: Rendered, path: str) -> str:
    return host.file(path).content.decode()


def test_off_by_default_the_site_keeps_443_and_no_turn_file_is_written(tmp_path: Path):
    core = rendered(site_with(tmp_path), CORE)
    assert not {f.path for f in core.files} & set(TURN_FILES)
    site = text(core, paths.NGINX_SITE)
    assert "listen 443 ssl" in site and "proxy_protocol" not in site
    assert "TURN_HOST" not in text(core, paths.COMPOSE_FILE)
    assert not [r for r in core.firewall if r.port == 3478 or r.last]


def test_the_core_alone_gets_coturn_and_the_split_and_the_secret_stays_root_s(turned_on):
    core, bridge = turned_on
    assert not {f.path for f in bridge.files} & set(TURN_FILES)
    settings = core.file(paths.TURN_CONFIG)
    assert (settings.mode, settings.owner, settings.group) == (0o640, "root", "turnserver")
    secret = core.site.secrets["TURN_CREDENTIALS"]
    assert f"static-auth-secret={secret}" in settings.content.decode()
    dropin = text(core, paths.COTURN_DROPIN)
    # coturn without its settings relays for anyone: the unit does not start without them.
    assert f"ExecStartPre=/bin/grep -q ^use-auth-secret$ {paths.TURN_CONFIG}" in dropin
    assert f"ExecStart=/usr/bin/turnserver -c {paths.TURN_CONFIG} --pidfile=" in dropin
    # Prosody gets the secret through the env file (0600), never the compose file.
    assert f"TURN_CREDENTIALS={secret}" in text(core, paths.COMPOSE_ENV)
    assert secret not in text(core, paths.COMPOSE_FILE)


def test_coturn_relays_udp_to_public_peers_and_the_bridges_only(turned_on):
    core, _ = turned_on
    settings = text(core, paths.TURN_CONFIG).splitlines()
    for line in ("no-tcp-relay", "use-auth-secret", f"realm={TURN}", "no-tls", "no-cli"):
        assert line in settings
    assert "min-port=50000" in settings and "max-port=50099" in settings
    for denied in ("127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "::1",
                   "172.16.0.0-172.31.255.255", "169.254.0.0-169.254.255.255"):  # fmt: skip
        assert f"denied-peer-ip={denied}" in settings
    # Both bridges' advertised addresses: media must reach them wherever they are.
    assert "allowed-peer-ip=203.0.113.10" in settings
    assert "allowed-peer-ip=203.0.113.11" in settings
    assert "relay-ip=203.0.113.10" in settings


def test_nginx_routes_the_turn_name_to_its_tls_end_and_the_rest_to_the_site(turned_on):
    core, _ = turned_on
    split = text(core, paths.NGINX_STREAM)
    assert f"{TURN} 127.0.0.1:5349;" in split and "default 127.0.0.1:4443;" in split
    assert "listen 443;" in split and "ssl_preread on;" in split
    assert f"{paths.TLS_ROOT}/{TURN}/fullchain.pem" in split
    site = text(core, paths.NGINX_SITE)
    assert "listen 443" not in site and "listen 127.0.0.1:4443 proxy_protocol ssl" in site
    assert "real_ip_header proxy_protocol;" in site
    # The TURN name's ACME challenges are answered on port 80 like the sites'.
    assert f"server_name meet.example.org status.example.org {TURN};" in site


def test_prosody_hands_out_turns_on_443_and_turn_on_3478(turned_on):
    core, _ = turned_on
    compose = text(core, paths.COMPOSE_FILE)
    for line in (f'TURNS_HOST: "{TURN}"', 'TURNS_PORT: "443"', f'TURN_HOST: "{TURN}"',
                 'TURN_PORT: "3478"', 'TURN_TRANSPORT: "udp,tcp"'):  # fmt: skip
        assert line in compose


def test_the_firewall_opens_3478_and_the_relay_range_as_one_rule(turned_on):
    core, bridge = turned_on
    assert Rule(3478, "udp", "any", "turn over udp") in core.firewall
    assert Rule(3478, "tcp", "any", "turn over tcp") in core.firewall
    assert Rule(50000, "udp", "any", "media relayed by turn", 50099) in core.firewall
    assert not [r for r in bridge.firewall if r.port == 3478 or r.last]
    commands = [c.argv for ch in firewall_changes(host("debian", ""), core.firewall)
                for c in ch.commands]  # fmt: skip
    assert any(argv[:9] == ("ufw", "allow", "proto", "udp", "from", "any", "to", "any", "port")
               and argv[9] == "50000:50099" for argv in commands)  # fmt: skip


UFW_WITH_RANGE = f"""\
ufw active
ufw default "DROP"
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in {ours("ssh")}
### tuple ### allow udp 50000:50099 0.0.0.0/0 any 0.0.0.0/0 in {ours("relay")}
"""


def test_a_relay_range_no_longer_wanted_is_deleted_as_the_one_rule_it_was():
    changes = firewall_changes(host("debian", UFW_WITH_RANGE), (Rule(22, "tcp", "any", "ssh"),))
    assert [c.argv for c in changes[0].commands] == [
        ("ufw", "delete", "allow", "proto", "udp", "from", "any", "to", "any", "port",
         "50000:50099"),
    ]  # fmt: skip
    same = (Rule(22, "tcp", "any", "ssh"), Rule(50000, "udp", "any", "relay", 50099))
    assert firewall_changes(host("debian", UFW_WITH_RANGE), same) == []


def test_coturn_is_masked_before_its_package_can_start_it_and_started_by_the_reaction(turned_on):
    facts = HostFacts(
        {
            OS_RELEASE.name: OsRelease("debian", "12", "debian"),
            INSTALLED.name: frozenset(),
            SYSTEM_SERVICES.name: {},
        }
    )
    install = package_changes(facts, "distro", ("coturn", "libnginx-mod-stream"))[0]
    argvs = [c.argv for c in install.commands]
    assert argvs[0] == ("systemctl", "mask", "coturn.service")
    assert "coturn" in argvs[-1] and "libnginx-mod-stream" in argvs[-1]
    core, _ = turned_on
    assert core.file(paths.TURN_CONFIG).reacts == ("turn",)
    assert HOST_ORDER.index("reload:nginx") < HOST_ORDER.index("turn")


def test_uninstall_removes_every_turn_file(turned_on):
    core, _ = turned_on
    assert set(TURN_FILES) <= set(machinery(core))


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"TURN_HOSTNAME": "meet.example.org"}, "is a name of the site already"),
        ({"TURN_HOSTNAME": "turn_example"}, "is not a valid host name"),
        ({"TURN_RELAY_PORTS": "50000"}, "is not a port range"),
        ({"TURN_RELAY_PORTS": "60000-50000"}, "is not a port range"),
        ({"TURN_RELAY_PORTS": "1000-2000"}, "is not a port range"),
        ({"TURN_RELAY_PORTS": "9000-11000"}, "holds more than 10000 ports or one of"),
        ({"TURN_RELAY_PORTS": "40000-55000"}, "holds more than 10000 ports or one of"),
    ],
)
def test_bad_turn_settings_are_refused_with_the_key(tmp_path: Path, settings, fragment):
    with pytest.raises(ConfigError) as refused:
        site_with(tmp_path, **{"TURN_HOSTNAME": TURN, **settings})
    message = str(refused.value)
    assert next(iter(settings)) in message and fragment in message


def test_the_cores_health_check_allocates_over_udp_and_tls_with_the_shipped_client(turned_on):
    core, bridge = turned_on
    conf = text(core, paths.HEALTH_CONFIG)
    assert "TURN_PROBES=(\n  'udp 3478'\n  'tls 443'\n)" in conf
    assert f"TURN_NAME={TURN}" in conf and "TURN_PUSH=" in conf
    assert core.file(paths.HEALTH_CONFIG).mode == 0o600, "it holds the TURN secret"
    library = f"{paths.HOST_BACKUP_LIBRARY}/jitsi_deploy/smoke/turn.py"
    assert core.file(library).content == (REPO / "jitsi_deploy/smoke/turn.py").read_bytes()
    assert f"{paths.HOST_BACKUP_LIBRARY}/jitsi_deploy/smoke" in [d.path for d in core.directories]
    assert "TURN_PROBES=(\n)" in text(bridge, paths.HEALTH_CONFIG)
    assert library not in [f.path for f in bridge.files]


def test_kuma_gets_a_turn_monitor_on_the_core(tmp_path: Path):
    deployment = site_with(tmp_path, TURN_HOSTNAME=TURN, ENABLE_MONITORING="1")
    kuma = monitoring.wanted(deployment, rendered(deployment, CORE))
    assert kuma is not None
    monitor = next(m for m in kuma.monitors if m.name.endswith("TURN server"))
    conf = text(rendered(deployment, CORE), paths.HEALTH_CONFIG)
    assert monitor.type == "push" and f"/api/push/{monitor.push_token}" in conf


def test_turn_switched_off_removes_its_files_stops_coturn_and_gives_443_back(tmp_path: Path):
    deployment = site_with(tmp_path)  # TURN_HOSTNAME empty again
    core = rendered(deployment, CORE)
    left = RemoteFile("0" * 64, 0o640, "root:0", "turnserver:998")
    actual = {path: left for path in TURN_FILES}
    facts = HostFacts({MANAGED.name: actual, DAEMON_JSON.name: None})
    removals = [c for c in file_changes(core, facts) if c.summary.startswith("remove ")]
    assert sorted(c.commands[0].argv[-1] for c in removals) == sorted(TURN_FILES)
    reacts = {r for c in removals for r in c.reacts}
    assert reacts == {"turn:off", "reload:nginx"}
    stop = reaction_changes(reacts, [paths.NGINX_SITE])
    argvs = [c.argv for change in stop for c in change.commands]
    assert ("systemctl", "mask", "coturn") in argvs, "never left to start on its own settings"
    untouched = file_changes(core, HostFacts({MANAGED.name: {}, DAEMON_JSON.name: None}))
    assert not [c for c in untouched if c.summary.startswith("remove ")], "none were there"


def test_a_turn_server_on_a_rhel_core_is_refused_before_anything_is_installed(turned_on):
    core, _ = turned_on
    facts = HostFacts(
        {
            OS_RELEASE.name: OsRelease("rocky", "9.4", "rhel"),
            INSTALLED.name: frozenset(),
            SYSTEM_SERVICES.name: {},
        }
    )
    with pytest.raises(DeployError, match="TURN_HOSTNAME: the TURN server runs on Debian"):
        plan(PlanInput(core, facts))


@pytest.mark.parametrize(
    ("public", "private", "addresses", "expected"),
    [
        ("203.0.113.10", "203.0.113.10", (), ("203.0.113.10", "")),  # a local render
        ("203.0.113.10", "203.0.113.10", ("203.0.113.10",), ("203.0.113.10", "")),
        # a private network for the bridges beside the public address: relay from the public
        ("203.0.113.10", "10.0.0.2", ("203.0.113.10", "10.0.0.2"), ("203.0.113.10", "")),
        # a cloud's 1:1 NAT: relay from the private address, tell clients the public one
        ("203.0.113.10", "10.0.0.2", ("10.0.0.2",), ("10.0.0.2", "203.0.113.10")),
        ("203.0.113.10", "203.0.113.10", ("172.31.5.9",), ("172.31.5.9", "203.0.113.10")),
    ],
)
def test_coturn_relays_from_an_address_the_host_has(public, private, addresses, expected):
    host = Host("meet", "core", public, public, private)
    assert relay_addresses(host, addresses) == expected


def test_behind_a_nat_coturn_tells_clients_the_public_address(tmp_path: Path):
    deployment = site_with(tmp_path, TURN_HOSTNAME=TURN)
    core = next(h for h in deployment.hosts if h.role == "core")
    settings = render_host(deployment, core, addresses=("172.31.5.9",))
    lines = settings.file(paths.TURN_CONFIG).content.decode().splitlines()
    assert "relay-ip=172.31.5.9" in lines and "external-ip=203.0.113.10/172.31.5.9" in lines


def test_the_real_nginx_checks_the_split_with_the_site_and_refuses_a_broken_one(turned_on):
    core, _ = turned_on
    results = validate(core)
    assert not [r for r in results if not r.startswith("ok")], results
    # Two servers on 443 in the same main config: what a site left on 443 beside the split is.
    clash = core.file(paths.NGINX_STREAM).content.replace(b"listen 127.0.0.1:5349", b"listen 443")
    files = tuple(
        File(f.path, clash, f.mode) if f.path == paths.NGINX_STREAM else f for f in core.files
    )
    with pytest.raises(ValidationError, match="nginx -t failed"):
        validate(replace(core, files=files))
