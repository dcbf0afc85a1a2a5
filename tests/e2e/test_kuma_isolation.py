"""Uptime Kuma on the deployed core holds no power over the host and no open door: no Docker
socket in its container, no way in from the stack's other containers, and a Kuma whose data was
reset is closed (nginx answers 503) until a deploy claims it again; a claim someone else won
fails the deploy and keeps it closed.

Reads and then restores the session's deployed site (tests/e2e/conftest.py): the last deploy
of each test leaves Kuma claimed, provisioned and open again.
"""

from __future__ import annotations

import time

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.services import container_name
from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

KUMA = container_name("uptime-kuma")
STATUS = ("--resolve", "status.example.org:443:127.0.0.1", "https://status.example.org/")


def status_code(core: TestHost) -> str:
    answer = host_exec(core, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", *STATUS)
    return answer.stdout


def kuma_answers(core: TestHost, seconds: float = 120) -> bool:
    """Whether Kuma answers on the host's loopback, waiting while it (re)starts: tests before
    these (a backup stops it, a restore recreates it) may leave it starting."""
    deadline = time.monotonic() + seconds
    probe = ("curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:3001/")
    while host_exec(core, *probe).returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def reach(core: TestHost, container: str, url: str) -> bool:
    """Whether ``container`` gets any HTTP answer from ``url`` (curl of the stand-in images)."""
    done = host_exec(core, "docker", "exec", container, "curl", "-s", "-o", "/dev/null",
                     "--max-time", "3", url)  # fmt: skip
    return done.returncode == 0


def kuma_socketio(core: TestHost, *events: str) -> str:
    """Speak to the core's Kuma as its login page does (Socket.IO over HTTP polling) from the
    host's loopback, sending ``events``; returns the last answer."""
    script = r"""
    set -e
    base="http://127.0.0.1:3001/socket.io/?EIO=4&transport=polling"
    sid=$(curl -fsS "$base" | sed -n 's/^0{.*"sid":"\([^"]*\)".*/\1/p')
    base="$base&sid=$sid"
    curl -fsS "$base" --data-binary 40 >/dev/null
    curl -fsS "$base" >/dev/null
    for event in "$@"; do curl -fsS "$base" --data-binary "$event" >/dev/null; done
    curl -fsS --max-time 5 "$base"
    """
    return host_exec(core, "bash", "-c", script, "-", *events, check=True).stdout


def wipe_kuma(core: TestHost) -> None:
    """Kuma's data reset, as a restored backup or a lost volume would leave it. Under the
    health check's lock: a cron run that saw Kuma stopped would restart it once its other
    checks are done, which may be just after the deploy that follows has claimed it (the
    status site then answers 502 while Kuma starts again)."""
    script = f'docker stop -t 5 "$1" && rm -rf {paths.KUMA_DATA_DIR}/* && docker start "$1"'
    host_exec(core, "flock", "-w", "120", paths.HEALTH_LOCK, "sh", "-c", script, "-", KUMA,
              check=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while "430[true]" not in _needs_setup(core):
        assert time.monotonic() < deadline, "the wiped Kuma did not come back needing set-up"
        time.sleep(2)


def closed_by_the_health_check(core: TestHost) -> bool:
    """Run the health check as cron does (cron may be running it too: then that run closes)
    until the status site answers 503, for at most a cron period and a half."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        host_exec(core, paths.HEALTH_SCRIPT)
        if status_code(core) == "503":
            return True
        time.sleep(5)
    return False


def kuma_story(core: TestHost) -> str:
    """What befell Kuma lately, for a failure's message: its container's state and start time,
    the health check's log, nginx's errors."""
    state = "{{.State.Status}} {{.State.StartedAt}} restarts={{.RestartCount}}"
    return "\n".join(
        host_exec(core, *command).stdout
        for command in (
            ("date", "-u", "+now %Y-%m-%dT%H:%M:%SZ"),
            ("docker", "inspect", "-f", state, KUMA),
            ("tail", "-n", "40", paths.HEALTH_LOG),
            ("tail", "-n", "10", "/var/log/nginx/error.log"),
        )
    )


def _needs_setup(core: TestHost) -> str:
    try:
        return kuma_socketio(core, '420["needSetup"]')
    except Exception:  # still starting
        return ""


def test_kumas_container_holds_no_docker_socket(site: Site) -> None:
    core = site.hosts[0]
    mounts = host_exec(core, "docker", "inspect", "-f", "{{json .Mounts}}", KUMA, check=True)
    assert "docker.sock" not in mounts.stdout and "/app/data" in mounts.stdout
    # Every mount is searched (a bound socket is a mount of its own), /proc and /sys aside.
    search = ("find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o",
              "-name", "docker.sock", "-print")  # fmt: skip
    found = host_exec(core, "docker", "exec", KUMA, *search)
    assert found.stdout == "" and found.returncode == 0, found.stdout + found.stderr


def test_no_other_container_of_the_stack_reaches_kuma(site: Site) -> None:
    core = site.hosts[0]
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Gateway}} {{end}}"
    kuma_ip, _ = host_exec(core, "docker", "inspect", "-f", template, KUMA).stdout.split()
    web_ip, gateway = host_exec(
        core, "docker", "inspect", "-f", template, "jitsi-web"
    ).stdout.split()
    assert reach(core, "jitsi-web", f"http://{web_ip}:8000/")  # the probe itself works
    assert kuma_answers(core)
    for container in ("jitsi-web", "jitsi-prosody", "jitsi-jicofo", "jitsi-jvb"):
        for url in (
            f"http://{kuma_ip}:3001/",  # Kuma's own address, across the networks
            f"http://{gateway}:3001/",  # the host, where Kuma is published on 127.0.0.1 only
            "http://uptime-kuma:3001/",  # its service name
        ):
            assert not reach(core, container, url), f"{container} reached Kuma at {url}"


def test_a_wiped_kuma_is_closed_until_the_next_deploy_claims_it(site: Site) -> None:
    core = site.hosts[0]
    assert kuma_answers(core)
    assert status_code(core) in ("200", "302"), kuma_story(core)
    wipe_kuma(core)

    assert closed_by_the_health_check(core)
    assert host_exec(core, "test", "-e", paths.KUMA_READY).returncode != 0
    log = host_exec(core, "cat", paths.HEALTH_LOG).stdout
    assert "closed the status site: Uptime Kuma has no admin" in log
    assert "430[true]" in kuma_socketio(core, '420["needSetup"]')  # nobody claimed it meanwhile

    again = site.fab("deploy")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Uptime Kuma:" in again.stdout and "open the status site" in again.stdout
    assert status_code(core) in ("200", "302"), kuma_story(core)
    assert "430[false]" in kuma_socketio(core, '420["needSetup"]')


def test_a_claim_someone_else_won_fails_the_deploy_and_keeps_the_site_closed(site: Site) -> None:
    core = site.hosts[0]
    wipe_kuma(core)
    assert closed_by_the_health_check(core)
    # Someone on the host's loopback claims the reset Kuma first.
    claimed = kuma_socketio(core, '420["setup","intruder","intruder-password-1"]')
    assert '"ok":true' in claimed, claimed

    refused = site.fab("deploy")

    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "already has an admin that is not this deployment's" in output
    assert status_code(core) == "503"

    wipe_kuma(core)  # the way out the message names: start Kuma over, deploy again
    again = site.fab("deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    assert status_code(core) in ("200", "302"), kuma_story(core) + again.stdout
