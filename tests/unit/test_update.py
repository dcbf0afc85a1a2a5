"""`fab update`'s decisions without a server: which release each host gets, when it rolls back,
and how the settings file learns the new release. The deploys and checks it calls are stand-in
functions here (recording what they were asked); tests/e2e/test_update.py runs the real ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy.host import HostReport
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations.update import ROLLBACK_WAIT, check_version, update
from jitsi_deploy.settings.envfile import parse_env, set_setting
from jitsi_deploy.smoke.checks import Result
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.facts import HostFacts
from jitsi_deploy.steps.handlers import PENDING, RUNNING
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import rendered, two_hosts


class Fleet:
    """Records the release each deploy put on each host; fails the ones it is told to."""

    def __init__(self, failing_release: str = "", failing_checks: str = "") -> None:
        self.deployed: list[dict[str, str]] = []
        self.waits: list[float] = []
        self.failing_release = failing_release
        self.failing_checks = failing_checks

    def deploy(self, deployment, hosts) -> list[HostReport]:
        versions = {h.name: deployment.sites[h.name].images.jitsi_version for h in hosts}
        self.deployed.append(versions)
        return [
            HostReport(h, error="boom" if versions[h.name] == self.failing_release else "")
            for h in hosts
        ]

    def smoke(self, deployment, hosts, wait: float) -> list[Result]:
        self.waits.append(wait)
        version = deployment.sites[hosts[0].name].images.jitsi_version
        status = "fail" if version == self.failing_checks else "ok"
        return [Result("page", status, "GET / 200")]


def run(fleet: Fleet, folder: Path, version: str = "stable-2"):
    deployment = two_hosts(folder)
    hosts = list(deployment.hosts)
    previous = {h.name: "stable-1" for h in hosts}
    return update(
        deployment, hosts, version, previous, fleet.deploy, fleet.smoke, 30, lambda _: None
    )


def test_a_release_that_passes_its_checks_stays(tmp_path: Path) -> None:
    fleet = Fleet()
    done = run(fleet, tmp_path)
    assert done.succeeded and done.rollback is None
    assert [set(d.values()) for d in fleet.deployed] == [{"stable-2"}]


def test_a_release_whose_checks_fail_is_rolled_back_on_every_host(tmp_path: Path) -> None:
    fleet = Fleet(failing_checks="stable-2")
    done = run(fleet, tmp_path)
    assert not done.succeeded and done.rollback is not None and done.rollback.passed
    assert fleet.waits == [30, ROLLBACK_WAIT], "the release known to work gets its time"
    assert [set(d.values()) for d in fleet.deployed] == [{"stable-2"}, {"stable-1"}]


def test_a_host_that_fails_to_converge_rolls_back_without_waiting_for_checks(
    tmp_path: Path,
) -> None:
    fleet = Fleet(failing_release="stable-2")
    done = run(fleet, tmp_path)
    assert done.attempt.checks == [] and done.rollback is not None
    assert [set(d.values()) for d in fleet.deployed] == [{"stable-2"}, {"stable-1"}]


@pytest.mark.parametrize("version", ["latest", "stable", "-x", "a b", ""])
def test_a_moving_or_malformed_release_is_refused(version: str) -> None:
    with pytest.raises(ConfigError, match="--version"):
        check_version(version)


def test_the_settings_file_learns_the_release_and_keeps_every_other_line(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# site\nPUBLIC_URL=https://meet.example.org\nJITSI_IMAGE_VERSION=a  # old\n")
    env.chmod(0o640)
    set_setting(env, "JITSI_IMAGE_VERSION", "stable-2")
    expected = "# site\nPUBLIC_URL=https://meet.example.org\nJITSI_IMAGE_VERSION=stable-2\n"
    assert env.read_text() == expected
    assert env.stat().st_mode & 0o777 == 0o640
    set_setting(env, "TZ", "UTC")
    parsed, problems = parse_env(env)
    assert not problems and parsed.values["TZ"] == "UTC"


@pytest.mark.parametrize(("source", "pulls"), [("pull", True), ("bundle", False)])
def test_a_pulling_host_fetches_every_image_before_compose_recreates_any(
    tmp_path: Path, source: str, pulls: bool
) -> None:
    """Compose v1 pulls service by service while it recreates them: a registry failure half-way
    would leave the stack on two releases, so the pull is a reaction of its own, run first."""
    deployment = two_hosts(tmp_path)
    core = deployment.hosts[0]
    site = deployment.sites[core.name]
    images = replace(site.images, source=source)
    deployment = replace(
        deployment, sites={**deployment.sites, core.name: replace(site, images=images)}
    )
    facts = HostFacts({PENDING.name: frozenset(), RUNNING.name: frozenset()})
    summaries = [
        c.summary for c in handlers.plan(PlanInput(rendered(deployment, core.name), facts))
    ]
    fetch = "fetch the stack's images before recreating anything"
    assert (fetch in summaries) is pulls
    if pulls:
        assert summaries.index(fetch) < summaries.index(
            "start or update the containers that changed"
        )
