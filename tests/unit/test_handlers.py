"""Reactions that end meetings say so, in check mode and in the progress lines."""

from __future__ import annotations

from pathlib import Path

from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.handlers import (
    ENDS_MEETINGS,
    reaction_changes,
)
from jitsi_deploy.steps.images import wanted_images
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import handler_facts, rendered, two_hosts


def test_restarts_that_end_meetings_are_named_and_others_are_not() -> None:
    wanted = {"restart:docker", "restart:web", "restart:jvb", "restart:prosody", "reload:nginx"}
    services = ("web", "prosody", "jicofo", "jvb")
    summaries = [c.summary for c in reaction_changes(wanted, [], services)]
    assert summaries == [
        "restart the Docker daemon" + ENDS_MEETINGS,
        "test and reload nginx",
        "restart web for its new settings",
        "restart prosody for its new settings" + ENDS_MEETINGS,
        "restart jvb for its new settings" + ENDS_MEETINGS,
        "all reactions done",
    ]


def test_a_service_up_starts_is_not_restarted_after_it(tmp_path: Path) -> None:
    """prosody is stopped, web runs: `up` starts prosody with its new files, so only web,
    which up leaves alone, is restarted for its new settings."""
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    running = dict(zip(core.service_names, wanted_images(core), strict=True))
    del running["prosody"]
    pending = frozenset({"restart:prosody", "restart:web"})
    facts = handler_facts(running, dict.fromkeys(wanted_images(core), 1), pending=pending)
    summaries = [c.summary for c in handlers.plan(PlanInput(core, facts))]
    assert "restart web for its new settings" in summaries
    assert not [s for s in summaries if s.startswith("restart prosody")], summaries
    assert summaries[0].startswith("start or update the containers that changed"), summaries
