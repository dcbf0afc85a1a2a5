"""`fab deploy` over real SSH to fresh Debian 12 and 13 test hosts, in parallel.

The hosts are rig containers booting systemd and sshd; the deploy installs Docker, nginx,
certbot and ufw from Debian's packages inside them and runs the stack on their own Docker
engine. The Jitsi images cannot be fetched here, so the stack runs stand-in images (built
locally under the real image names, answering the same health endpoints), pushed as an
offline image bundle.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from jitsi_deploy.deploy.console import Console, Level
from jitsi_deploy.deploy.host import Options, deploy_host
from jitsi_deploy.entry import load_or_exit as load
from jitsi_deploy.model import paths, xmpp_tls
from jitsi_deploy.model.services import XMPP_AUTH_DOMAIN
from jitsi_deploy.remote.transport import SshConfig
from tests.e2e.conftest import AUTH_SETTINGS, BRIDGE_PUBLIC_IP
from tests.e2e.site import REPO, Site, host_state
from tests.e2e.terminal import run_on_terminal
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

STACK = ("web", "prosody", "jicofo", "jvb", "uptime-kuma")
SERVICE_STATE = '{{.Label "com.docker.compose.service"}} {{.State}} {{.Status}}'
MANAGED = [
    paths.COMPOSE_FILE,
    paths.COMPOSE_ENV,
    paths.SYSCTL_FILE,
    paths.LIMITS_FILE,
    paths.DOCKER_DAEMON_JSON,
    paths.HEALTH_CRON,
    "/usr/local/sbin/jitsi-health",
    f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua",
]


def healthy_services(host: TestHost, wanted: Iterable[str], seconds: float = 120) -> set[str]:
    """The services running and healthy, once all of ``wanted`` are or after ``seconds``.

    `docker ps` alone also lists a container stuck restarting; a restart loop never stays
    "(healthy)", and a container without a health check must at least be running."""
    deadline = time.monotonic() + seconds
    while True:
        listed = ("docker", "ps", "--all", "--format", SERVICE_STATE)
        lines = host_exec(host, *listed).stdout.splitlines()
        healthy = {
            service
            for service, _, state in (line.partition(" ") for line in lines)
            if state.startswith("running ") and ("(" not in state or "(healthy)" in state)
        }
        if set(wanted) <= healthy or time.monotonic() > deadline:
            return healthy
        time.sleep(2)


def recap_line(output: str, host: TestHost) -> str:
    recap = output.split("RECAP", 1)[1]
    return next(line for line in recap.splitlines() if line.strip().startswith(host.name))


def test_first_deploy_converges_both_hosts(site: Site) -> None:
    core, bridge = site.hosts
    assert healthy_services(core, STACK) == set(STACK)
    assert healthy_services(bridge, ["jvb"]) == {"jvb"}
    output: str = site.first_output  # type: ignore[attr-defined]
    for host in site.hosts:
        assert "changed" in recap_line(output, host)
        firewall = host_exec(host, "ufw", "status").stdout
        assert "Status: active" in firewall and "10000/udp" in firewall
        assert host_exec(host, "test", "-x", "/usr/local/sbin/jitsi-health").returncode == 0
        assert_armed_once_up(host)
    # The packages step takes a while on a fresh host: it says so before its outcome comes.
    lines = output.splitlines()
    running = [i for i, line in enumerate(lines) if _says(line, core, "packages running")]
    done = [i for i, line in enumerate(lines) if _says(line, core, "packages changed")]
    assert running and done and running[0] < done[0], output
    # The core before its bridge: the bridge starts its containers once the core's changes are
    # in (Kuma's provisioning, after them, is not waited for).
    core_applied = [i for i, line in enumerate(lines) if _says(line, core, "tls changed")]
    bridge_started = [i for i, line in enumerate(lines) if _says(line, bridge, "handlers changed")]
    assert core_applied and bridge_started and core_applied[-1] < bridge_started[0], output
    # The recap speaks in sentences: counts agree with their nouns, warnings say what they mean.
    assert not re.search(r"\b1 (round trips|warnings)\b", output), output
    warnings = [line for line in output.splitlines() if line.strip().startswith("warning:")]
    assert not any("['" in line for line in warnings), warnings
    assert "\x1b" not in output, "redirected output carries no escape sequences"


def _says(line: str, host: TestHost, step_and_status: str) -> bool:
    return line.split()[:3] == [host.name, *step_and_status.split()]


def assert_armed_once_up(host: TestHost) -> None:
    """The health check logged nothing before the first deploy armed it (right after its
    `compose up`: tests/unit/test_health_conf.py), though its cron entry came minutes before."""
    armed = host_exec(host, "stat", "-c", "%Y", paths.HEALTH_ARMED, check=True).stdout
    log = host_exec(host, "cat", paths.HEALTH_LOG).stdout.splitlines()
    assert all(_epoch(line.split()[0]) >= int(armed) for line in log), log


def _epoch(stamp: str) -> int:
    """Seconds of an ISO time as the health log writes it (UTC, Z)."""
    return int(datetime.fromisoformat(stamp[:19] + "+00:00").timestamp())


def test_uptime_kuma_is_claimed_and_provisioned_by_the_deploy(site: Site) -> None:
    """The real Uptime Kuma 2 runs on the core: the deploy created its admin and monitors
    through the SSH tunnel, then opened the status site, which answered 503 until then."""
    core = site.hosts[0]
    progress = [line for line in site.first_output.splitlines() if "Uptime Kuma:" in line]  # type: ignore[attr-defined]
    assert progress and "created" in progress[0], site.first_output  # type: ignore[attr-defined]
    assert host_exec(core, "test", "-f", paths.KUMA_READY).returncode == 0
    assert host_exec(core, "test", "-s", paths.KUMA_WANTED_HASH).returncode == 0
    assert status_site_answer(core) in ("200", "302")


def status_site_answer(core: TestHost, seconds: float = 120) -> str:
    """The status site's HTTP status once Kuma is up behind it. 502 is Kuma (re)starting, not
    the gate (503): an earlier module may have restarted it (a backup stops it, a restore
    recreates it)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = host_exec(
            core, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
            "--resolve", "status.example.org:443:127.0.0.1", "https://status.example.org/",
        ).stdout  # fmt: skip
        if answer != "502" or time.monotonic() > deadline:
            return answer
        time.sleep(2)


def test_both_compose_generations_run_the_stack(site: Site) -> None:
    bookworm, trixie = site.hosts
    assert "docker-compose version 1." in host_exec(bookworm, "docker-compose", "version").stdout
    assert "version 2." in host_exec(trixie, "docker", "compose", "version").stdout


def test_fab_smoke_proves_the_site_and_names_a_broken_part(site: Site) -> None:
    """From this machine, as a browser would, through the core's nginx: TLS, page, BOSH,
    websocket, the room policy in the real Prosody; over SSH the bridges jicofo counts (the
    core's and the Debian 13 host's) and each service's health."""
    core = site.hosts[0]
    resolve = ("--resolve", f"{core.address}:443")
    passed = site.fab("smoke", *resolve, "--wait", "120")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    for check in ("BOSH", "websocket", "public room", "private room with password",
                  "TURN over TLS on 443", "TURN over UDP", "TURN refusals"):  # fmt: skip
        assert re.search(rf"^ok\s+{check}:", passed.stdout, re.M), passed.stdout

    host_exec(core, "docker", "stop", "-t", "1", "jitsi-web", check=True)
    try:
        failed = site.fab("smoke", *resolve)
    finally:
        host_exec(core, "docker", "start", "jitsi-web", check=True)
    assert failed.returncode == 1, failed.stdout
    assert re.search(r"^FAIL\s+page:", failed.stdout, re.M), failed.stdout


def test_second_deploy_changes_nothing(site: Site, tmp_path: Path) -> None:
    before = [host_state(h, MANAGED) for h in site.hosts]
    again = site.fab("deploy", "--recap-json", str(tmp_path / "recap.json"))
    assert again.returncode == 0, again.stdout + again.stderr
    for host, state in zip(site.hosts, before, strict=True):
        # Nothing to do costs the connection and the facts script, nothing more (a sudo user
        # one more: whether sudo asks for a password is tried once).
        trips = 2 if host.user == "root" else 3
        assert f"unchanged: nothing to do  ({trips} round trips" in recap_line(again.stdout, host)
        assert host_state(host, MANAGED) == state
    assert not re.search(r"\bchanged\b ", again.stdout.split("RECAP")[0])
    # The recap's last line sums it up, and the JSON says the same.
    recap = json.loads((tmp_path / "recap.json").read_text())
    last = again.stdout.split("RECAP", 1)[1].strip().splitlines()[-1]
    assert re.fullmatch(r"2 hosts: 0 changed, 2 unchanged, 0 failed, in [\d.]+s\.", last), last
    assert recap["ok"] and recap["summary"] == last
    assert [(h["host"], h["status"]) for h in recap["hosts"]] == [
        (host.name, "unchanged") for host in site.hosts
    ]


def test_only_the_images_a_host_lacks_are_sent(site: Site) -> None:
    host = site.hosts[0]
    jvb = "ghcr.io/jitsi/jvb:stable-11146-2"
    host_exec(host, "docker", "image", "rm", "-f", jvb, check=True)
    result = site.fab("deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = [line for line in result.stdout.splitlines() if " images " in line]
    assert len(loaded) == 1 and loaded[0].endswith(f"load {jvb}")
    assert "unchanged: nothing to do" in recap_line(result.stdout, site.hosts[1])


def test_check_mode_shows_the_diff_and_changes_nothing(site: Site) -> None:
    before = [host_state(h, MANAGED) for h in site.hosts]
    site.write({"JVB_MEMORY_LIMIT": "2g", "OTHER_ROOMS": "deny"})
    try:
        check = site.fab("deploy", "--check")
    finally:
        site.write()
    assert check.returncode == 0, check.stdout + check.stderr
    assert '-    mem_limit: "3g"' in check.stdout and '+    mem_limit: "2g"' in check.stdout
    # The room policy holds passwords: its diff shows the changed setting, never a password.
    assert '+room_policy_other_rooms = "deny"' in check.stdout, check.stdout
    assert "room_policy_default_password =********" in check.stdout
    room_password = (site.folder / ".secrets.env").read_text().split("GENERATED_ROOM_PASSWORD=")[1]
    assert room_password.split()[0].strip("'\"") not in check.stdout
    assert "start or update the containers that changed" in check.stdout
    assert "(check mode: nothing was changed)" in check.stdout
    assert [host_state(h, MANAGED) for h in site.hosts] == before


def test_a_change_that_ends_meetings_asks_first_at_a_terminal(site: Site) -> None:
    """A conference is live on the core (jicofo's stand-in opens one on request, as a browser's
    join does), and a room-policy change restarts prosody, which ends it. At a terminal the
    deploy names the meetings and the change and asks; "no" leaves the core as it was, while
    the bridge, which has nothing to do, is not held up."""
    core, bridge = site.hosts
    request = '{"room": "standup@muc.meet.jitsi"}'
    host_exec(core, "curl", "-fsS", "-X", "POST", "-H", "Content-Type: application/json",
              "-d", request, "http://127.0.0.1:8888/conference-request/v1", check=True)  # fmt: skip
    before = host_state(core, MANAGED)
    site.write({"OTHER_ROOMS": "deny"})
    try:
        code, output = run_on_terminal(site.fab_argv("deploy"), REPO, b"Go on? [y/N]", "n\n")
    finally:
        site.write()
    assert code == 1, output
    assert re.search(rf"{core.name}: \d+ conference\(s\) with \d+ participant\(s\) are in", output)
    assert "These changes end them:" in output and "restart prosody for its new settings" in output
    assert f"{core.name} was not changed: " in output
    assert "\x1b[31mFAILED\x1b[0m" in output, "a terminal gets colour"
    assert "unchanged: nothing to do" in recap_line(output, bridge)
    assert host_state(core, MANAGED) == before


def test_only_the_public_ports_answer_from_another_host(site: Site, make_host) -> None:
    prober = make_host("bookworm")
    target = site.hosts[0]
    ports = (22, 80, 443, 3001, 3478, 4443, 5222, 5280, 5349, 8000, 8080, 8888)
    # All at once: a filtered port takes the whole timeout to say so.
    probe = (
        'for p in "$@"; do (timeout 3 bash -c "echo > /dev/tcp/$0/$p" 2>/dev/null && echo "$p") '
        "& done; wait"
    )
    found = host_exec(prober, "bash", "-c", probe, target.address, *map(str, ports))
    answering = {int(port) for port in found.stdout.split()}
    # The deployed site answers on exactly its public ports: nothing private (the site behind
    # the TLS split and the TURN server's TLS end listen on loopback), and the XMPP port the
    # core publishes for its bridge stays closed to everyone else. 3478: TURN over TCP.
    assert answering == {22, 80, 443, 3478}


def test_the_bridge_alone_reaches_the_cores_xmpp_port(site: Site) -> None:
    core, bridge = site.hosts
    probe = f"echo > /dev/tcp/{core.address}/5222"
    assert host_exec(bridge, "timeout", "3", "bash", "-c", probe).returncode == 0
    # Docker recreates its chains on a restart; the rules come back with it.
    host_exec(core, "systemctl", "restart", "docker", check=True)
    deadline = time.monotonic() + 60
    while "-j JITSI-DEPLOY" not in host_exec(core, "iptables", "-S", "DOCKER-USER").stdout:
        assert time.monotonic() < deadline, "DOCKER-USER does not jump to the rules again"
        time.sleep(1)
    rules = host_exec(core, "iptables", "-S", "JITSI-DEPLOY").stdout
    # The bridge connects from its private_ip, not from the public one it advertises.
    assert f"-s {bridge.address}/32" in rules and "-j DROP" in rules
    assert BRIDGE_PUBLIC_IP not in rules
    # Prosody listens again a few seconds after its container runs.
    deadline = time.monotonic() + 60
    while host_exec(bridge, "timeout", "3", "bash", "-c", probe).returncode != 0:
        assert time.monotonic() < deadline, "the bridge cannot reach 5222 after a Docker restart"
        time.sleep(2)


def test_the_bridge_logs_in_to_the_cores_prosody_only_with_the_sites_certificate(site: Site):
    """Seen from the bridge host: the core's 5222 shows the certificate made from the site's
    key, which verifies for the XMPP domain; the bridge's jvb logged in there (it verifies the
    same way: tests/standin/test_xmpp_tls.py) and refused no certificate."""
    core, bridge = site.hosts
    deployment = load(site.env, site.folder / "hosts", save=False)
    secret = deployment.sites[core.name].secrets[xmpp_tls.XMPP_TLS_KEY.name]
    host_exec(bridge, "sh", "-c", "cat > /tmp/site-xmpp.crt",
              input=xmpp_tls.certificate_pem(secret).decode(), check=True)  # fmt: skip
    shown = host_exec(
        bridge, "timeout", "20", "openssl", "s_client", "-starttls", "xmpp",
        "-xmpphost", XMPP_AUTH_DOMAIN, "-servername", XMPP_AUTH_DOMAIN,
        "-connect", f"{core.address}:5222", "-CAfile", "/tmp/site-xmpp.crt",
        "-verify_return_error", "-verify_hostname", XMPP_AUTH_DOMAIN, input="",
    )  # fmt: skip
    assert "Verify return code: 0 (ok)" in shown.stdout, shown.stdout + shown.stderr
    logs = host_exec(bridge, "docker", "logs", "jitsi-jvb")
    assert f"logged in at {core.address}:5222" in logs.stdout + logs.stderr
    assert "is refused" not in logs.stdout + logs.stderr


def test_an_unreachable_host_fails_alone(site: Site) -> None:
    core, bridge = site.hosts
    extra = f"ghost address={core.address} port=1 key={core.key_path}\n"
    site.write(extra_lines=extra)
    try:
        result = site.fab("deploy")
        admitted = host_exec(core, "iptables", "-S", "JITSI-DEPLOY").stdout
    finally:
        site.write()
        # The ghost was a bridge of the core (its firewall let it in): take that back.
        restored = site.fab("deploy")
    assert result.returncode == 1
    assert "ghost: cannot connect to" in result.stdout
    assert "FAILED" not in recap_line(result.stdout, core)
    assert "unchanged: nothing to do" in recap_line(result.stdout, bridge)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    # A bridge removed from the inventory loses its access on the next deploy; the other keeps it.
    assert f"-s {core.address}/32" in admitted, admitted
    rules = host_exec(core, "iptables", "-S", "JITSI-DEPLOY").stdout
    assert f"-s {core.address}/32" not in rules and f"-s {bridge.address}/32" in rules, rules


def test_an_unknown_host_key_is_refused_with_advice(site: Site, tmp_path: Path) -> None:
    (site.folder / "known_hosts").write_text("")
    try:
        result = site.fab("deploy", "--check")
    finally:
        site.trust()
    assert result.returncode == 1
    assert "unknown host key. Check the server's fingerprint" in result.stdout


def test_a_user_without_sudo_gets_a_clear_error(site: Site) -> None:
    lonely = site.hosts[0].as_user("nosudo")
    other = Site(site.folder, [lonely])
    other.write()
    try:
        result = other.fab("deploy", "--check")
    finally:
        site.write()
    assert result.returncode == 1
    assert "nosudo cannot sudo without a password" in result.stdout


def test_hosts_named_with_dash_h_are_looked_up_in_the_inventory(site: Site) -> None:
    bookworm = site.hosts[0]
    result = site.fab("-H", f"root@{bookworm.address}", "deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged: nothing to do" in recap_line(result.stdout, bookworm)
    assert site.hosts[1].name not in result.stdout


def test_a_user_with_password_sudo_deploys_with_the_password(site: Site) -> None:
    """What `fab --prompt-for-sudo-password` sets; sudo reads it from stdin, never argv."""
    host = site.hosts[0]
    password = "Sudo-pw-for-tests-42"
    host_exec(host, "sh", "-c", PASSWORD_SUDO_USER, input=f"pwsudo:{password}\n", check=True)
    deployment = load(site.env, site.folder / "hosts")
    target = replace(deployment.hosts[0], user="pwsudo")
    config = SshConfig(overrides={"sudo": {"password": password}})
    options = Options(site.folder / "known_hosts", check=True, ssh_config=config)
    quiet = Console(level=Level.QUIET)
    report = deploy_host(deployment, target, options, quiet)
    assert report.error == "" and report.planned == []
    without = deploy_host(deployment, target, replace(options, ssh_config=None), quiet)
    assert "pwsudo cannot sudo without a password" in without.error


def test_ssh_config_names_and_jump_hosts_are_followed(site: Site, tmp_path: Path) -> None:
    """What `fab -F ssh_config` sets: an alias (HostName) reached directly, and a host reached
    only through a jump host (ProxyJump), whose connection is not a plain socket."""
    core, bridge = site.hosts
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host meet-alias\n  HostName {core.address}\n  IdentityFile {core.key_path}\n"
        f"Host {core.address}\n  ProxyJump {bridge.user}@{bridge.address}\n"
        f"  IdentityFile {core.key_path}\n"
        f"Host {bridge.address}\n  IdentityFile {bridge.key_path}\n"
    )
    deployment = load(site.env, site.folder / "hosts")
    options = Options(
        site.folder / "known_hosts", check=True, ssh_config=SshConfig(runtime_ssh_path=ssh_config)
    )
    quiet = Console(level=Level.QUIET)
    for address in ("meet-alias", core.address):
        target = replace(deployment.hosts[0], address=address)
        report = deploy_host(deployment, target, options, quiet)
        assert report.error == "" and report.planned == [], (address, report.error)
    # "meet-alias" resolves nowhere but in the config; the jump shows in the core's sshd log.
    logins = host_exec(core, "journalctl", "--since", "-2min", "-o", "cat").stdout
    assert f"Accepted publickey for root from {bridge.address} " in logins


PASSWORD_SUDO_USER = """
id pwsudo >/dev/null 2>&1 || useradd -m -s /bin/sh pwsudo
chpasswd
echo 'pwsudo ALL=(ALL) ALL' > /etc/sudoers.d/pwsudo
mkdir -p /home/pwsudo/.ssh && cp /root/.ssh/authorized_keys /home/pwsudo/.ssh/
chown -R pwsudo /home/pwsudo/.ssh
"""


def test_a_killed_container_comes_back_by_itself(site: Site) -> None:
    """The cron-driven health check sees the dead bridge and restarts it (one failure is enough
    with HEALTH_FAILURES_BEFORE_ACTION=1); cron runs each minute, so this waits up to 3."""
    host = site.hosts[0]
    container = host_exec(
        host, "docker", "ps", "-q", "--filter", "label=com.docker.compose.service=jvb"
    ).stdout.strip()
    host_exec(host, "docker", "kill", container, check=True)
    assert "jvb" in healthy_services(host, ["jvb"], seconds=180)
    actions = host_exec(host, "grep", " ACTION ", "/var/log/jitsi-health.log").stdout
    assert re.search(r" ACTION (restarted|recreated) jvb\b", actions), actions


def test_a_stopped_docker_engine_is_started_and_the_stack_comes_back(site: Site) -> None:
    """The health check's engine branch, as the product renders it (CHECK_DOCKER on): the
    engine stopped, one run of the script starts it again, and the containers (restart:
    unless-stopped) come back healthy by themselves."""
    host = site.hosts[0]
    host_exec(host, "systemctl", "stop", "docker.socket", "docker", check=True)
    host_exec(host, "/usr/local/sbin/jitsi-health")  # a cron run may have come first: both log
    actions = host_exec(host, "grep", " ACTION ", paths.HEALTH_LOG).stdout
    assert re.search(r" ACTION restarted docker \(", actions), actions
    assert host_exec(host, "systemctl", "is-active", "docker").stdout.strip() == "active"
    assert healthy_services(host, STACK) == set(STACK)


def test_an_interrupted_deploy_converges_on_the_next_run(auth_core: Site) -> None:
    """auth_core's first deploy was killed in its files step; the run after it converged."""
    (host,) = auth_core.hosts
    assert healthy_services(host, STACK) == set(STACK)
    settled = auth_core.fab("deploy")
    assert "unchanged: nothing to do" in recap_line(settled.stdout, host)


def test_fail2ban_guards_ssh_and_the_rate_limits_when_switched_on(auth_core: Site) -> None:
    """Switched on for auth_core, the last to use it (its jails could ban this machine)."""
    (host,) = auth_core.hosts
    auth_core.write({**AUTH_SETTINGS, "ENABLE_FAIL2BAN": "1"})
    result = auth_core.fab("deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    # The restarted server answers before it has loaded its jails: asked until it has.
    deadline = time.monotonic() + 30
    status = ""
    while not ("sshd" in status and "nginx-limit-req" in status):
        assert time.monotonic() < deadline, status
        status = host_exec(host, "fail2ban-client", "status").stdout
        time.sleep(0.5)
