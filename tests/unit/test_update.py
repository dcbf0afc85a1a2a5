"""`fab update`'s decisions without a server: which release each host gets, when it rolls back,
and how the settings file learns the new release. The deploys and checks it calls are stand-in
functions here (recording what they were asked); tests/e2e/test_update.py runs the real ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy.host import HostReport
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations.refresh import Moved, Refresh
from jitsi_deploy.operations.update import ROLLBACK_WAIT, Rebuilds, check_version, update
from jitsi_deploy.settings.envfile import parse_env, set_setting
from jitsi_deploy.smoke.checks import Result
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.images import wanted_images
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import handler_facts, rendered, two_hosts


class Fleet:
    """Records the release each deploy put on each host; fails the ones it is told to."""

    def __init__(
        self, failing_release: str = "", failing_checks: str = "", failing_fetch: bool = False
    ) -> None:
        self.deployed: list[dict[str, str]] = []
        self.waits: list[float] = []
        self.failing_release = failing_release
        self.failing_checks = failing_checks
        self.failing_fetch = failing_fetch
        self.fetched: list[str] = []
        self.restored: list[str] = []

    def fetch(self, deployment, hosts) -> list[Refresh]:
        self.fetched += [h.name for h in hosts]
        moved = (Moved("web", "sha256:" + "a" * 64, "sha256:" + "b" * 64),)
        error = "registry unreachable" if self.failing_fetch else ""
        return [Refresh(h, () if error else moved, error) for h in hosts]

    def restore(self, deployment, hosts) -> list[Refresh]:
        self.restored += [h.name for h in hosts]
        return [Refresh(h) for h in hosts]

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


def run(fleet: Fleet, folder: Path, version: str = "stable-2", said: list[str] | None = None):
    deployment = two_hosts(folder)
    hosts = list(deployment.hosts)
    previous = {h.name: "stable-1" for h in hosts}
    rebuilds = Rebuilds(fleet.fetch, fleet.restore)
    announce = (said if said is not None else []).append
    return update(
        deployment, hosts, version, previous, fleet.deploy, fleet.smoke, 30, rebuilds, announce
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


def test_another_release_fetches_nothing_again(tmp_path: Path) -> None:
    fleet = Fleet(failing_checks="stable-2")
    run(fleet, tmp_path)
    assert fleet.fetched == [] and fleet.restored == []


def test_the_running_release_is_fetched_again_and_its_new_build_said(tmp_path: Path) -> None:
    fleet, said = Fleet(), []
    done = run(fleet, tmp_path, version="stable-1", said=said)
    assert done.succeeded and fleet.fetched == ["meet.example.org", "jvb1.example.org"]
    assert "meet.example.org: a new build of the same release: web aaaaaaaaaaaa -> " in "".join(
        said
    )
    assert [set(d.values()) for d in fleet.deployed] == [{"stable-1"}] and fleet.restored == []


def test_a_new_build_that_fails_its_checks_puts_the_previous_builds_back(tmp_path: Path) -> None:
    fleet = Fleet(failing_checks="stable-1")
    done = run(fleet, tmp_path, version="stable-1")
    assert not done.succeeded and done.rollback is not None
    assert fleet.restored == fleet.fetched == ["meet.example.org", "jvb1.example.org"]
    assert len(fleet.deployed) == 2, "the rollback deploy recreates on the builds put back"


def test_a_failed_fetch_recreates_nothing_and_puts_the_tags_back(tmp_path: Path) -> None:
    """`compose pull` may have moved some tags before it failed: they are named back, and no
    deploy runs, so no container stops."""
    fleet = Fleet(failing_fetch=True)
    done = run(fleet, tmp_path, version="stable-1")
    assert done.fetch_failed and not done.succeeded and fleet.deployed == []
    assert fleet.restored == ["meet.example.org", "jvb1.example.org"]


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
def test_a_pulling_host_fetches_the_missing_images_before_compose_recreates_any(
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
    core_files = rendered(deployment, core.name)
    present = dict.fromkeys(wanted_images(core_files)[1:], 1)  # the web image is missing
    changes = handlers.plan(PlanInput(core_files, handler_facts({}, present, armed=False)))
    summaries = [c.summary for c in changes]
    fetch = "fetch the stack's images before recreating anything"
    assert (fetch in summaries) is pulls
    if pulls:
        assert summaries.index(fetch) < summaries.index(
            "start or update the containers that changed"
        )
        (pull,) = changes[summaries.index(fetch)].commands
        assert pull.argv[-3:] == ("pull", "--quiet", "web"), "only what is missing is pulled"


def test_a_deploy_pulls_nothing_the_host_has_and_recreates_what_runs_another_build(
    tmp_path: Path,
) -> None:
    """A tag the host has is never pulled by a deploy (only `fab update` moves it); a container
    that `docker ps` shows by image ID runs a build its tag no longer names: Compose recreates
    it on the build the tag names now (a new one, or the previous one put back)."""
    core_files = rendered(two_hosts(tmp_path), "meet.example.org")
    images = wanted_images(core_files)
    running = dict(zip(core_files.service_names, images, strict=True))

    def plan(shown: dict[str, str]) -> list[str]:
        facts = handler_facts(shown, dict.fromkeys(images, 1))
        return [c.summary for c in handlers.plan(PlanInput(core_files, facts))]

    assert plan(running) == []
    assert plan({**running, "web": "e4a65ad1671f"}) == [
        "start or update the containers that changed"
        " (ends the meetings on each meeting service it recreates)",
        "all reactions done",
    ]
