"""The monitoring phase's plan: from the stored digest to provisioning, and what it records."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy import monitoring
from jitsi_deploy.deploy.console import Console, Level
from jitsi_deploy.deploy.host import gather_facts
from jitsi_deploy.model import paths
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.monitoring.monitors import wanted_notifications
from jitsi_deploy.monitoring.report import Report
from jitsi_deploy.remote.transport import Output
from jitsi_deploy.render.host import render_host
from jitsi_deploy.settings.site import Deployment
from tests.unit.sites import REPO, TWO_HOSTS, rendered, two_hosts

CORE_PUSHED = ("web", "prosody", "jicofo", "jvb")  # Kuma does not report itself


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return two_hosts(tmp_path)


def test_the_core_watches_every_host_and_every_container_by_push(deployment: Deployment) -> None:
    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None
    pushes = {m.name for m in kuma.monitors if m.type == "push"}
    assert pushes == {
        "jitsi-deploy: meet.example.org: health check",
        *(f"jitsi-deploy: meet.example.org: container {s}" for s in CORE_PUSHED),
        "jitsi-deploy: jvb1.example.org: health check",
        "jitsi-deploy: jvb1.example.org: container jvb",
        # the core's health check says whether jicofo's brewery has each bridge it expects
        "jitsi-deploy: meet.example.org: bridge meet.example.org in jicofo",
        "jitsi-deploy: meet.example.org: bridge jvb1.example.org in jicofo",
    }
    assert {m.type for m in kuma.monitors} <= {"http", "keyword", "websocket-upgrade", "push"}
    assert len({m.push_token for m in kuma.monitors if m.type == "push"}) == len(pushes)
    assert kuma.admin.username == "admin"
    secret = deployment.sites["meet.example.org"].secrets["KUMA_ADMIN_PASSWORD"]
    assert kuma.admin.password == secret


def test_bridges_and_sites_without_monitoring_provision_nothing(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(TWO_HOSTS)
    deployment = load(REPO / ".env.example", tmp_path / "hosts", tmp_path / ".secrets.env")
    assert monitoring.wanted(deployment, rendered(deployment, "jvb1.example.org")) is None
    env = (REPO / ".env.example").read_text().replace("ENABLE_MONITORING=1", "ENABLE_MONITORING=0")
    (tmp_path / ".env").write_text(env)
    off = load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    assert monitoring.wanted(off, rendered(off, "meet.example.org")) is None
    assert monitoring.plan(None, "") == []


def test_an_unchanged_digest_plans_nothing(deployment: Deployment) -> None:
    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None
    assert monitoring.plan(kuma, kuma.hash) == []


def test_a_different_digest_plans_the_provisioning(deployment: Deployment) -> None:
    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None
    for stored in ("", "0" * 64):
        (change,) = monitoring.plan(kuma, stored)
        assert change.step == "monitoring"
        assert change.commands == ()  # runs here, through the tunnel: nothing for the host
        assert f"would provision {len(kuma.monitors)} monitors" in change.detail
        assert "contacts no Kuma" in change.detail


def test_the_digest_follows_the_inventory_and_the_alerts(deployment: Deployment) -> None:
    core = rendered(deployment, "meet.example.org")
    full = monitoring.wanted(deployment, core)
    assert full is not None
    fewer = replace(full, monitors=full.monitors[:-1])
    alerted = replace(
        full, notifications=tuple(wanted_notifications(webhook_url="https://hooks.example.org/a"))
    )
    upgraded = replace(full, image="louislam/uptime-kuma:2.1.0")
    assert len({full.hash, fewer.hash, alerted.hash, upgraded.hash}) == 4


def test_the_facts_ride_in_the_one_facts_script(deployment: Deployment) -> None:
    """No extra round trip: the digest comes with the other facts."""

    class OneRoundTrip:
        def __init__(self) -> None:
            self.scripts: list[str] = []

        def run_script(self, script: str) -> Output:
            self.scripts.append(script)
            return Output(0, f"@@{monitoring.WANTED_HASH.name}\nabc123\n@@end\n", "")

    remote = OneRoundTrip()
    core = rendered(deployment, "meet.example.org")
    facts = gather_facts(remote, core, extra=monitoring.FACTS)  # type: ignore[arg-type]
    assert len(remote.scripts) == 1 and paths.KUMA_WANTED_HASH in remote.scripts[0]
    assert facts[monitoring.WANTED_HASH] == "abc123"


@pytest.mark.parametrize("ready", [True, False])
def test_the_digest_counts_only_while_the_status_site_is_open(tmp_path: Path, ready: bool) -> None:
    """The health check removes the ready mark from a Kuma that lost its admin; the next deploy
    must then claim it again even though the digest of its monitors is unchanged."""
    import subprocess

    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / Path(paths.KUMA_WANTED_HASH).name).write_text("abc123\n")
    if ready:
        (etc / Path(paths.KUMA_READY).name).write_text("")
    script = monitoring.WANTED_HASH.command(None).replace(paths.ETC_DIR, str(etc))  # type: ignore[arg-type]
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    assert monitoring.WANTED_HASH.parse(out.splitlines()) == ("abc123" if ready else "")


def test_what_a_converge_records_on_the_host(deployment: Deployment) -> None:
    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None
    assert monitoring.record(Report(warnings=["Uptime Kuma at x gave no answer"]), kuma) == []
    partial = monitoring.record(Report(signed_in=True, warnings=["a monitor refused"]), kuma)
    assert [c.commands[0].argv[-1] for c in partial] == [paths.KUMA_READY]
    settled = monitoring.record(Report(signed_in=True, created=["x"]), kuma)
    assert [c.commands[0].argv[-1] for c in settled] == [paths.KUMA_READY, paths.KUMA_WANTED_HASH]
    assert settled[1].commands[0].stdin == f"{kuma.hash}\n".encode()
    assert all(c.warn_only for c in settled)  # a failed write is a warning, not a failed deploy
    (closed,) = monitoring.record(Report(refused=True, warnings=["refused"]), kuma)
    assert closed.commands[0].argv == ("rm", "-f", "--", paths.KUMA_READY, paths.KUMA_WANTED_HASH)
    assert not closed.warn_only


def test_kuma_trouble_is_a_warning_line() -> None:
    report = Report(created=["a", "b"], deleted=["c"], warnings=["Kuma refused the admin"])
    lines = monitoring.outcomes(report)
    assert [(o.status, o.change.summary) for o in lines] == [
        ("changed", "Uptime Kuma: 2 created, 0 edited, 1 deleted"),
        ("warning", "Uptime Kuma"),
    ]
    assert lines[1].output == f"Kuma refused the admin. {monitoring.KUMA_ADVICE}"
    refused = monitoring.outcomes(replace(report, refused=True))
    assert refused[1].output == "Kuma refused the admin"  # the deploy's error says what to do


class FakeRemote:
    """A host that answers the facts script only: check mode must need nothing else."""

    def __init__(self, stored_hash: str) -> None:
        self.stored_hash = stored_hash
        self.round_trips = 0
        self.connection = None  # a tunnel would need it: check mode must not get there

    def run_script(self, script: str) -> Output:
        self.round_trips += 1
        assert "@@end" in script, "check mode ran something other than the facts script"
        os_release = "ID=debian\nVERSION_ID=12\n"
        return Output(
            0,
            f"@@os-release\n{os_release}@@{monitoring.WANTED_HASH.name}\n{self.stored_hash}\n"
            "@@end\n",
            "",
        )

    def close(self) -> None:
        pass


@pytest.mark.parametrize("same", [True, False])
def test_check_mode_says_what_it_would_provision_and_contacts_no_kuma(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, same: bool
) -> None:
    from jitsi_deploy.deploy import host as host_module

    core_host = next(h for h in deployment.hosts if h.role == "core")
    kuma = monitoring.wanted(deployment, rendered(deployment, core_host.name))
    assert kuma is not None
    remote = FakeRemote(kuma.hash if same else "")
    monkeypatch.setattr(host_module, "Remote", lambda *args: remote)
    monkeypatch.setattr(host_module, "kuma_tunnel", None)  # any use would fail the test
    options = host_module.Options(tmp_path / "known_hosts", check=True)
    report = host_module.deploy_host(deployment, core_host, options, Console(level=Level.QUIET))
    assert report.error == ""
    provisioning = [c for c in report.planned if c.step == "monitoring"]
    if same:
        assert provisioning == []
    else:
        (change,) = provisioning
        assert f"would provision {len(kuma.monitors)} monitors" in change.detail


def test_fab_monitor_login_prints_the_admin_login(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    (tmp_path / "hosts").write_text(TWO_HOSTS)
    env, hosts = str(tmp_path / ".env"), str(tmp_path / "hosts")
    done = subprocess.run(
        [sys.executable, "-m", "fabric", "monitor-login", "--env", env, "--inventory", hosts],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    secrets = (tmp_path / ".secrets.env").read_text()
    password = next(
        line.split("=", 1)[1].strip("'\"")
        for line in secrets.splitlines()
        if line.startswith("KUMA_ADMIN_PASSWORD=")
    )
    assert done.stdout.splitlines() == [
        "status site: https://status.example.org/",
        "user:        admin",
        f"password:    {password}",
    ]


def test_the_core_is_matched_by_name_even_as_a_fab_h_target(deployment: Deployment) -> None:
    from dataclasses import replace

    from jitsi_deploy.deploy.targets import select_hosts

    (core,) = select_hosts(deployment, "admin@meet.example.org:2222")
    assert core != deployment.hosts[0]  # another login and port: a different Host value
    kuma = monitoring.wanted(deployment, render_host(deployment, core))
    assert kuma is not None
    pushes = sorted(m.name for m in kuma.monitors if m.name.endswith("health check"))
    assert pushes == [
        "jitsi-deploy: jvb1.example.org: health check",
        "jitsi-deploy: meet.example.org: health check",
    ]
    assert replace(core, user="root", port=22) == deployment.hosts[0]


class Recorder:
    """A host for the Kuma phase: records each script and answers with ``output``."""

    connection = object()

    def __init__(self, output: str) -> None:
        self.output = output
        self.scripts: list[str] = []

    def run_script(self, script: str, on_line: Callable[[str], None] | None = None) -> Output:
        self.scripts.append(script)
        for line in self.output.splitlines() if on_line else ():
            on_line(line)
        return Output(0, self.output, "")


@contextmanager
def loopback_tunnel(connection: object) -> Iterator[str]:
    """Stands for the SSH tunnel: Kuma itself is replaced in these tests (tests/kuma has it)."""
    yield "http://127.0.0.1:1"


def test_the_phase_after_apply_says_each_line_and_never_fails_the_deploy(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jitsi_deploy.deploy import host as host_module
    from jitsi_deploy.deploy.runner import step_script

    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None

    def converged(url: str, wanted: monitoring.Wanted) -> tuple[Report, list]:
        report = Report(created=["a"], signed_in=True)
        return report, monitoring.record(report, wanted)

    monkeypatch.setattr(host_module, "kuma_tunnel", loopback_tunnel)
    monkeypatch.setattr(monitoring, "provision", converged)
    remote, printed = Recorder("@@begin 0\n@@begin 1\n"), io.StringIO()
    report = host_module.HostReport(deployment.hosts[0])
    host_module._provision(remote, report.host, kuma, report, Console(printed))  # type: ignore[arg-type]
    said = [line.split()[2] for line in printed.getvalue().splitlines()]
    assert said == ["changed", "changed", "changed"]  # the counts, the mark, the digest
    assert remote.scripts == [step_script(monitoring.record(Report(signed_in=True), kuma))]

    @contextmanager
    def broken(connection: object):
        raise OSError("channel refused")
        yield ""

    monkeypatch.setattr(host_module, "kuma_tunnel", broken)
    report = host_module.HostReport(deployment.hosts[0])
    quiet = Recorder("")
    host_module._provision(quiet, report.host, kuma, report, Console(level=Level.QUIET))  # type: ignore[arg-type]
    assert quiet.scripts == []  # nothing signed in: nothing recorded on the host
    assert [o.status for o in report.outcomes] == ["ok", "warning"]
    assert "no SSH tunnel to Uptime Kuma: channel refused" in report.outcomes[1].output
    assert report.outcomes[1].output.endswith(monitoring.KUMA_ADVICE)  # what it means, what to do
    assert report.error == ""


def test_a_refused_claim_closes_the_status_site_and_fails_the_deploy(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jitsi_deploy.deploy import host as host_module
    from jitsi_deploy.deploy.runner import step_script
    from jitsi_deploy.errors import DeployError

    kuma = monitoring.wanted(deployment, rendered(deployment, "meet.example.org"))
    assert kuma is not None

    def refused(url: str, wanted: monitoring.Wanted) -> tuple[Report, list]:
        report = Report(refused=True, warnings=["Uptime Kuma refused the admin 'admin'"])
        return report, monitoring.record(report, wanted)

    monkeypatch.setattr(host_module, "kuma_tunnel", loopback_tunnel)
    monkeypatch.setattr(monitoring, "provision", refused)
    remote = Recorder("@@begin 0\n")
    report = host_module.HostReport(deployment.hosts[0])
    with pytest.raises(DeployError) as error:
        host_module._provision(remote, report.host, kuma, report, Console(level=Level.QUIET))  # type: ignore[arg-type]
    closing = monitoring.record(Report(refused=True), kuma)
    assert remote.scripts == [step_script(closing)]
    message = str(error.value)
    assert "already has an admin that is not this deployment's" in message
    assert "stays closed" in message and paths.KUMA_DATA_DIR in message
