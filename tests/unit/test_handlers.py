"""Reactions that end meetings say so, in check mode and in the progress lines."""

from __future__ import annotations

from jitsi_deploy.steps.handlers import ENDS_MEETINGS, reaction_changes


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
