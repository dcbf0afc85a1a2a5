"""The deploy's monitoring phase against a real Uptime Kuma 2 (see image.py).

What the deploy does on a core host, minus the SSH tunnel (test_tunnel.py proves that part):
the wanted monitors of a whole inventory from the settings, the converge, and the commands
that record the result on the host, run here by sh under a temporary folder standing in for
/etc/jitsi-deploy. The second deploy reads the stored digest back through the fact's parser and
plans nothing. What Kuma holds is read back with a client session of the test's own.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from uptime_kuma_api import UptimeKumaApi

from jitsi_deploy.deploy import monitoring
from jitsi_deploy.deploy.runner import parse_outcomes, step_script
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.monitoring.monitors import WEBSOCKET_UPGRADE
from jitsi_deploy.render.host import render_host
from jitsi_deploy.steps.changes import Change

from . import containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HOSTS = """\
[core]
meet.example.org address=203.0.113.10
[jvb]
jvb1.example.org address=203.0.113.11
"""
# Names Kuma may look up resolve to its own loopback (containers.PINNED_NAMES) or nowhere: its
# resolver is its own loopback, where none answers, so no monitor reaches the example names.
ALERTS = "KUMA_NOTIFY_WEBHOOK_URL=http://hooks.kuma.test:9/alert"


@pytest.fixture
def wanted(tmp_path: Path) -> monitoring.Wanted:
    example = (REPO / ".env.example").read_text()
    (tmp_path / ".env").write_text(example.replace("KUMA_NOTIFY_WEBHOOK_URL=", ALERTS, 1))
    (tmp_path / "hosts").write_text(HOSTS)
    deployment = load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    core = render_host(deployment, deployment.hosts[0])
    kuma = monitoring.wanted(deployment, core)
    assert kuma is not None
    return kuma


def run_here(changes: list[Change]) -> list[str]:
    """The record commands as the runner sends them to a host, run by this machine's sh."""
    done = subprocess.run(["sh", "-s"], input=step_script(changes), capture_output=True, text=True)
    return [o.status for o in parse_outcomes(changes, done.stdout + done.stderr, done.returncode)]


def marks_in(tmp_path: Path) -> monitoring.Marks:
    """The marks in a folder the write makes, the health check's lock in the test's own."""
    etc = tmp_path / "etc"
    return monitoring.Marks(str(etc / "ready"), str(etc / "wanted.sha256"), str(tmp_path / "lock"))


def stored_hash(marks: monitoring.Marks) -> str:
    path = Path(marks.wanted_hash)
    text = path.read_text() if path.exists() else ""
    return monitoring.WANTED_HASH.parse(text.splitlines())


def without_newer_types(kuma: monitoring.Wanted) -> monitoring.Wanted:
    """The wanted set as a Kuma >= 2.1 settles it: this 2.0 snapshot lacks websocket-upgrade,
    so there the websocket monitor runs on its fallback and the converge is not settled."""
    monitors = tuple(
        replace(m.fallback, name=m.name) if m.type == WEBSOCKET_UPGRADE and m.fallback else m
        for m in kuma.monitors
    )
    return replace(kuma, monitors=monitors)


def test_first_deploy_claims_kuma_opens_the_site_and_the_second_skips_it(
    kuma: containers.Kuma, wanted: monitoring.Wanted, tmp_path: Path
) -> None:
    marks = marks_in(tmp_path)
    wanted = without_newer_types(wanted)
    assert monitoring.plan(wanted, stored_hash(marks))  # nothing stored yet: provision

    report, records = monitoring.provision(kuma.url, wanted, marks)

    assert report.signed_in and report.settled, report.warnings
    assert {m.name for m in wanted.monitors} <= set(report.created)
    assert run_here(records) == ["changed", "changed"]
    assert Path(marks.ready).exists()
    assert stored_hash(marks) == wanted.hash
    with UptimeKumaApi(kuma.url, timeout=15) as api:
        assert not api.need_setup()
        api.login(wanted.admin.username, wanted.admin.password)
        found = sorted(m["name"] for m in api.get_monitors())
        alerts = [n["name"] for n in api.get_notifications()]
    assert found == sorted(m.name for m in wanted.monitors)
    assert alerts == [n.name for n in wanted.notifications] == ["jitsi-deploy: webhook"]

    # The next deploy reads the digest with its facts: nothing to provision, Kuma not contacted.
    assert monitoring.plan(wanted, stored_hash(marks)) == []


def test_a_fallback_is_provisioned_again_only_for_a_new_kuma_image(
    kuma: containers.Kuma, wanted: monitoring.Wanted, tmp_path: Path
) -> None:
    """2.0.0-dev.0 lacks the websocket-upgrade type: the fallback stands in, the digest is
    stored (a no-op deploy leaves Kuma alone), and a new Kuma image changes the digest."""
    marks = marks_in(tmp_path)

    report, records = monitoring.provision(kuma.url, wanted, marks)

    assert report.signed_in and report.complete and report.fallbacks, report.warnings
    assert run_here(records) == ["changed", "changed"]
    assert monitoring.plan(wanted, stored_hash(marks)) == []
    upgraded = replace(wanted, image="louislam/uptime-kuma:2.1.0")
    assert monitoring.plan(upgraded, stored_hash(marks))


def test_a_kuma_claimed_by_someone_else_is_refused_and_closes_the_site(
    kuma: containers.Kuma, wanted: monitoring.Wanted, tmp_path: Path
) -> None:
    """Someone claimed Kuma first (its data was new or reset): the records close the status
    site, even one that was open, and the deploy fails on it (deploy/host.py)."""
    with UptimeKumaApi(kuma.url, timeout=15) as api:
        api.setup("intruder", "intruder-password-1")
    marks = marks_in(tmp_path)
    Path(marks.ready).parent.mkdir()
    Path(marks.ready).write_text("")
    Path(marks.wanted_hash).write_text(wanted.hash + "\n")

    report, records = monitoring.provision(kuma.url, wanted, marks)

    assert report.refused and not report.signed_in
    assert run_here(records) == ["changed"]
    assert not Path(marks.ready).exists() and not Path(marks.wanted_hash).exists()
    assert monitoring.plan(wanted, stored_hash(marks))  # the next deploy tries again
    lines = monitoring.outcomes(report)
    assert [o.status for o in lines] == ["ok", "warning"]
    assert "refused the admin" in lines[1].output
