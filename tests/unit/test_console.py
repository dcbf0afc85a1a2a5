"""A step that runs long says so while it runs, with the time so far, and stops saying it
when it ends (the e2e first deploy shows the lines before the packages step's outcome)."""

from __future__ import annotations

import re
import threading

from jitsi_deploy.deploy.progress import ticking
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.step import StepPlan

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
STEP = StepPlan(
    "packages", [Change("packages", "install nginx", ()), Change("packages", "start nginx", ())]
)


def test_a_long_step_says_what_it_does_until_it_ends() -> None:
    said: list[tuple[str, str, str]] = []
    twice = threading.Event()

    def say(host: Host, change: Change, status: str) -> None:
        said.append((host.name, status, change.summary))
        if len(said) == 2:
            twice.set()

    with ticking(HOST, STEP, say, first=0.01, every=0.01):
        assert twice.wait(10)
    for name, status, summary in said:
        assert (name, status) == ("meet.example.org", "running")
        assert re.fullmatch(r"\d+s so far: install nginx \(and 1 more\)", summary), summary


def test_a_quick_step_says_nothing() -> None:
    said: list[str] = []
    with ticking(HOST, STEP, lambda h, c, s: said.append(s), first=60):
        pass
    assert said == []
