"""Meetings in progress (deploy/meetings.py): read from jicofo's /stats, warned about when the
plan ends them, and asked about first; and which changes end meetings (steps/handlers.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.deploy.meetings import LIVE, Live, ask_first, parse_live, warning
from jitsi_deploy.deploy.memory import MEMORY_TOTAL
from jitsi_deploy.errors import DeployError
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.facts import facts_script, parse_facts
from jitsi_deploy.steps.images import wanted_images
from jitsi_deploy.steps.step import PlanInput, StepPlan
from tests.unit.sites import handler_facts, rendered, two_hosts

# The jicofo stand-in's /stats (tests/standin/rootfs/jicofo), shaped as jicofo's own.
STATS = '{"conferences":2,"participants":7,"bridge_selector":{"operational_bridge_count":1}}'
RESTART = Change("handlers", "restart prosody for its new settings", (), ends_meetings=True)
RELOAD = Change("handlers", "test and reload nginx", ())


def test_jicofos_counts_are_read_where_it_answers() -> None:
    assert parse_live([STATS]) == Live(2, 7)
    assert parse_live([]) is None  # a bridge host: no jicofo there
    assert str(Live(2, 7)) == "2 conference(s) with 7 participant(s)"


def test_the_fact_reads_curls_answer_in_the_one_facts_script(tmp_path: Path) -> None:
    """jicofo's JSON comes without a trailing newline; the fact after it must still parse."""
    (tmp_path / "curl").write_text(f"#!/bin/sh\nprintf '%s' '{STATS}'\n")
    (tmp_path / "curl").chmod(0o755)
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    facts = (LIVE, MEMORY_TOTAL)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    run = subprocess.run(["sh", "-c", facts_script(facts, core)], env=env, capture_output=True)
    parsed = parse_facts(facts, run.stdout.decode())
    assert parsed[LIVE] == Live(2, 7) and parsed[MEMORY_TOTAL] > 0


def test_a_warning_names_the_meetings_and_the_changes_that_end_them() -> None:
    steps = [StepPlan("handlers", [RELOAD, RESTART])]
    warned = warning(steps, Live(2, 7))
    assert warned is not None and warned.status == "warning"
    assert warned.output.startswith(
        "2 conference(s) with 7 participant(s) are in progress, and restart prosody for its "
        "new settings ends them"
    )
    assert warning(steps, Live(0, 0)) is None and warning(steps, None) is None
    assert warning([StepPlan("handlers", [RELOAD])], Live(2, 7)) is None


def test_the_question_comes_only_when_meetings_would_end_and_no_keeps_the_host() -> None:
    asked: list[tuple[str, list[Change], Live]] = []

    def answer(reply: bool):
        def confirm(host, changes, live) -> bool:
            asked.append((host.name, changes, live))
            return reply

        return confirm

    host = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
    steps = [StepPlan("handlers", [RELOAD, RESTART])]
    ask_first(host, [StepPlan("handlers", [RELOAD])], Live(2, 7), answer(False))
    ask_first(host, steps, Live(0, 0), answer(False))
    assert asked == []
    ask_first(host, steps, Live(2, 7), answer(True))
    assert asked == [("meet.example.org", [RESTART], Live(2, 7))]
    with pytest.raises(DeployError, match=r"meet.example.org was not changed: 2 conference"):
        ask_first(host, steps, Live(2, 7), answer(False))


@pytest.mark.parametrize("running", [False, True])
def test_recreating_a_running_stack_ends_meetings_a_first_start_does_not(
    tmp_path: Path, running: bool
) -> None:
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    images = wanted_images(core)
    shown = dict(zip(core.service_names, images, strict=True)) if running else {}
    facts = handler_facts(
        shown, dict.fromkeys(images, 1), pending=frozenset({"up:stack", "restart:prosody"})
    )
    changes = handlers.plan(PlanInput(core, facts))
    ending = {c.summary.split(" (")[0] for c in changes if c.ends_meetings}
    restart = "restart prosody for its new settings"
    # Stopped, prosody is started by `up` with its new files: no restart follows, nothing ends.
    assert ending == (
        {"start or update the containers that changed", restart} if running else set()
    )
