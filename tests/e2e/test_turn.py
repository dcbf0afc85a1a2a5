"""The shared site's TURN server (tests/e2e/conftest.py: TURN_HOSTNAME on the Debian 12 core),
seen from outside with real TURN clients, coturn's own `turnutils_uclient` and the product's
(jitsi_deploy/smoke/turn.py), holding the credentials the site's Prosody hands a participant.

The site's other modules reach it through the same TLS split on 443: each of their requests
also shows that the site keeps working behind it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.settings.envfile import parse_env
from jitsi_deploy.smoke import turn, xmpp
from tests.e2e.conftest import TURN_NAME
from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

PEER_PORT = 3480
# A local end of TLS with the TURN name as SNI, as a browser sends it (`turnutils_uclient`
# sends none, and nginx routes a nameless client to the site).
TUNNEL_PORT = 5349


def handed_out(site: Site, kind: str, transport: str) -> xmpp.ExternalService:
    """The TURN service the site's Prosody hands an anonymous participant, through the split;
    asked again while the web container is starting (an earlier module may have stopped it)."""
    core = site.hosts[0]
    endpoint = xmpp.Endpoint("https://meet.example.org", f"{core.address}:443", False)
    deadline = time.monotonic() + 60
    while True:
        try:
            with xmpp.session("websocket", endpoint) as user:
                services = user.external_services()
            return next(s for s in services if (s.type, s.transport) == (kind, transport))
        except xmpp.XmppError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def server(site: Site, transport: str) -> turn.Server:
    port = 443 if transport == "tls" else 3478
    return turn.Server(site.hosts[0].address, port, transport, TURN_NAME, verify=False)


@pytest.fixture(scope="module")
def client(site: Site, make_host) -> TestHost:
    """A participant's machine whose network lets only TCP 443 out to the site, with coturn's
    TURN client and socat for a TLS end that sends the TURN name."""
    core = site.hosts[0]
    host = make_host("bookworm")
    install = (
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends coturn socat iptables >/dev/null"
    )
    host_exec(host, "sh", "-c", install, check=True)
    firewall = (
        f"iptables -A OUTPUT -d {core.address} -p tcp --dport 443 -j ACCEPT && "
        f"iptables -A OUTPUT -d {core.address} -j REJECT"
    )
    host_exec(host, "sh", "-c", firewall, check=True)
    tunnel = (
        f"socat TCP-LISTEN:{TUNNEL_PORT},bind=127.0.0.1,fork,reuseaddr "
        f"OPENSSL:{core.address}:443,snihost={TURN_NAME},verify=0 >/dev/null 2>&1 &"
    )
    host_exec(host, "sh", "-c", tunnel, check=True)
    return host


@pytest.fixture(scope="module")
def echo_peer(site: Site) -> Iterator[str]:
    """coturn's echo peer on the core's own address: a bridge's, where relays may go."""
    core = site.hosts[0]
    start = f"turnutils_peer -L {core.address} -p {PEER_PORT} >/dev/null 2>&1 &"
    host_exec(core, "sh", "-c", start, check=True)
    yield core.address
    host_exec(core, "pkill", "-f", "turnutils_peer")


def relay(client: TestHost, peer: str, user: str, password: str) -> str:
    """`turnutils_uclient` sending 20 datagrams to the echo peer through a relay reached over
    TLS on 443; its output."""
    argv = ("turnutils_uclient", "-n", "20", "-c", "-e", peer, "-r", str(PEER_PORT), "-t")
    where = ("-p", str(TUNNEL_PORT), "127.0.0.1")
    done = host_exec(client, "timeout", "60", *argv, "-u", user, "-w", password, *where)
    return done.stdout + done.stderr


def received_all(output: str) -> bool:
    """Every datagram sent came back from the peer through the relay (and some were sent)."""
    counts = re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n", output)
    return bool(counts) and int(counts[1]) == int(counts[2]) > 0


def test_prosody_hands_out_turn_over_tls_on_443_and_over_3478(site: Site) -> None:
    secret = parse_env(site.folder / ".secrets.env")[0].values["TURN_CREDENTIALS"]
    tls = handed_out(site, "turns", "tcp")
    assert (tls.host, tls.port) == (TURN_NAME, 443)
    assert tls.username and tls.password
    assert turn.rest_credentials(secret, 0, now=int(tls.username)) == (tls.username, tls.password)
    for transport in ("udp", "tcp"):
        assert handed_out(site, "turn", transport).port == 3478


def test_media_goes_through_turn_over_tls_on_443_from_a_network_that_allows_nothing_else(
    site: Site, client: TestHost, echo_peer: str
) -> None:
    core = site.hosts[0]
    for port in (3478, 80):
        probe = f"echo > /dev/tcp/{core.address}/{port}"
        blocked = host_exec(client, "timeout", "3", "bash", "-c", probe)
        assert blocked.returncode != 0, "the client's network must allow only 443 to the site"
    service = handed_out(site, "turns", "tcp")
    output = relay(client, echo_peer, service.username, service.password)
    assert received_all(output), output


def test_a_wrong_password_relays_nothing(site: Site, client: TestHost, echo_peer: str) -> None:
    service = handed_out(site, "turns", "tcp")
    output = relay(client, echo_peer, service.username, service.password[::-1])
    assert not received_all(output), output
    assert "Cannot complete Allocation" in output, output


@pytest.mark.parametrize("transport", ["tls", "udp"])
def test_wrong_and_expired_credentials_are_refused(site: Site, transport: str) -> None:
    secret = parse_env(site.folder / ".secrets.env")[0].values["TURN_CREDENTIALS"]
    where = server(site, transport)
    good = turn.probe(where, *turn.rest_credentials(secret, 600))
    assert good.ok, good.message
    expired = turn.probe(where, *turn.rest_credentials(secret, -60))
    wrong = turn.probe(where, *turn.rest_credentials("not-the-secret", 600))
    assert (expired.ok, expired.error_code) == (False, 401), expired.message
    assert (wrong.ok, wrong.error_code) == (False, 401), wrong.message


def test_no_relay_reaches_the_hosts_loopback_or_its_docker_networks(site: Site) -> None:
    core = site.hosts[0]
    inspect = "docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}'"
    gateways = host_exec(core, "sh", "-c", f"{inspect} bridge jitsi_meet.jitsi", check=True)
    docker = gateways.stdout.split()
    assert len(docker) == 2, gateways.stdout
    service = handed_out(site, "turn", "udp")
    with turn.TurnClient(server(site, "udp")) as relayed:
        relayed.allocate(service.username, service.password)
        relayed.create_permission(core.address)  # the core's bridge: media goes there
        for peer in ("127.0.0.1", "127.0.0.53", "169.254.169.254", "10.1.2.3", *docker):
            with pytest.raises(turn.TurnError) as refused:
                relayed.create_permission(peer)
            assert refused.value.code == 403, (peer, refused.value)


def test_the_firewall_opens_3478_and_the_relay_range_and_nothing_else_new(site: Site) -> None:
    core = site.hosts[0]
    rules = host_exec(core, "ufw", "status").stdout
    # Each rule's first word: its ports (the IPv6 twin's line starts alike).
    opened = {line.split()[0] for line in rules.splitlines() if " ALLOW " in line}
    # 5222/tcp: from the bridge alone (the DOCKER-USER chain holds the rule that counts).
    assert opened == {"22/tcp", "80/tcp", "443/tcp", "10000/udp", "5222/tcp", "3478/udp",
                      "3478/tcp", "49152:49651/udp"}, rules  # fmt: skip


def test_the_status_shows_the_turn_names_certificate(site: Site) -> None:
    status = site.fab("status", timeout=180)
    assert re.search(rf"{re.escape(TURN_NAME)} \d+ days", status.stdout), status.stdout


def test_smoke_names_turn_when_coturn_is_down(site: Site) -> None:
    core = site.hosts[0]
    host_exec(core, "systemctl", "stop", "coturn", check=True)
    try:
        failed = site.fab("smoke", "--resolve", f"{core.address}:443")
    finally:
        host_exec(core, "systemctl", "start", "coturn", check=True)
    assert failed.returncode == 1, failed.stdout
    for check in ("TURN over TLS on 443", "TURN over UDP"):
        assert re.search(rf"^FAIL\s+{check}:", failed.stdout, re.M), failed.stdout
    assert re.search(r"^ok\s+page:", failed.stdout, re.M), "the site itself is unaffected"


KUMA_BEATS = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
    "query = ('SELECT h.status, h.msg FROM heartbeat h JOIN monitor m ON m.id = h.monitor_id '\n"
    "         'WHERE m.name = ? ORDER BY h.id DESC LIMIT 1')\n"
    "print(*db.execute(query, (sys.argv[2],)).fetchone() or ('none', ''), sep='|')\n"
)


def test_kuma_has_a_turn_monitor_fed_by_the_health_checks_allocations(site: Site) -> None:
    core = site.hosts[0]
    name = f"jitsi-deploy: {core.name}: TURN server"
    database = f"{paths.KUMA_DATA_DIR}/kuma.db"
    host_exec(core, paths.HEALTH_SCRIPT)  # one push now, not at the next minute
    beat = host_exec(core, "python3", "-c", KUMA_BEATS, database, name, check=True).stdout
    status, _, message = beat.strip().partition("|")
    assert status == "1", beat
    assert "relays allocated over 2 ways in" in message, beat


def test_an_emptied_turn_hostname_takes_the_turn_server_off_and_gives_443_back(
    site: Site,
) -> None:
    """Last of the module: the shared site goes on without TURN (no later module needs it)."""
    core = site.hosts[0]
    site.settings.pop("TURN_HOSTNAME")
    site.write()
    off = site.fab("deploy")
    assert off.returncode == 0, off.stdout + off.stderr
    assert "stop the TURN server" in off.stdout, off.stdout
    enabled = host_exec(core, "systemctl", "is-enabled", "coturn").stdout.strip()
    assert enabled == "masked", "never left to start on the package's open settings"
    for path in (paths.TURN_CONFIG, paths.COTURN_DROPIN, paths.NGINX_STREAM):
        assert host_exec(core, "test", "-e", path).returncode != 0, path
    rules = host_exec(core, "ufw", "status").stdout
    assert "3478" not in rules and "49152:49651" not in rules, rules
    page = host_exec(core, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                     "--resolve", f"meet.example.org:443:{core.address}",
                     "https://meet.example.org/")  # fmt: skip
    assert page.stdout == "200"
    assert not turn.probe(server(site, "udp"), "0", "0").relayed
    again = site.fab("deploy")
    assert again.returncode == 0 and "0 changed, 2 unchanged" in again.stdout, again.stdout
