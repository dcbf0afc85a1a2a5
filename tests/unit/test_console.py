"""A step that runs long says so while it runs, with the time so far, and stops saying it
when it ends: plain lines in a log (the e2e first deploy shows them before the packages
step's outcome), a live line on a terminal that leaves nothing behind; --quiet says
nothing, --verbose adds each change's output."""

from __future__ import annotations

import io
import re
import time

import pytest

from jitsi_deploy.deploy import console as console_module
from jitsi_deploy.deploy.console import Console, Level
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.step import StepPlan

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
BRIDGE = Host("jvb2.example.org", "jvb", "203.0.113.11", "203.0.113.11")
INSTALL = Change("packages", "install nginx", ())
STEP = StepPlan("packages", [INSTALL, Change("packages", "start nginx", ())])


class Stream(io.StringIO):
    """What a run printed; a terminal or not."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_a_long_step_says_what_it_does_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module, "FIRST", 0.01)
    monkeypatch.setattr(console_module, "EVERY", 0.01)
    stream = Stream(terminal=False)
    with Console(stream).running(HOST, STEP):
        deadline = time.monotonic() + 10
        while stream.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    said = stream.getvalue().splitlines()
    assert len(said) >= 2
    for line in said:
        assert line.split()[:3] == ["meet.example.org", "packages", "running"], line
        assert re.search(r"\d+s so far: install nginx \(and 1 more\)$", line), line
    assert "\x1b" not in stream.getvalue(), "a log gets no control characters"


def test_a_quick_step_says_nothing() -> None:
    stream = Stream(terminal=False)
    with Console(stream).running(HOST, STEP):
        pass
    assert stream.getvalue() == ""


def test_on_a_terminal_the_time_is_a_live_line_under_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each working host has a line under the finished ones, redrawn in place; lines said
    meanwhile go above it; when the step ends the live line is erased, not left behind."""
    monkeypatch.setattr(console_module, "REDRAW", 0.01)
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Stream(terminal=True)
    console = Console(stream)
    with console.running(HOST, STEP), console.running(BRIDGE, STEP):
        console.say(BRIDGE, INSTALL, "changed")
        while stream.getvalue().count(console_module.ERASE_LINE) < 4:  # redrawn, twice
            time.sleep(0.01)
    screen = render(stream.getvalue())
    assert screen == [f"{'jvb2.example.org':<24} packages  changed  install nginx"], screen
    live = stream.getvalue().split(console_module.ERASE_LINE)[2]
    assert re.search(r"meet.example.org +packages +running +\d+s  install nginx", live), live
    assert "jvb2.example.org" in live, "one line per working host"


def test_quiet_says_nothing_verbose_adds_the_output() -> None:
    quiet, verbose = Stream(terminal=False), Stream(terminal=False)
    Console(quiet, Level.QUIET).say(HOST, INSTALL, "changed", "Setting up nginx ...")
    Console(verbose, Level.VERBOSE).say(HOST, INSTALL, "changed", "Setting up nginx ...\n")
    assert quiet.getvalue() == ""
    assert verbose.getvalue().splitlines()[1].split() == ["|", "Setting", "up", "nginx", "..."]


def render(output: str) -> list[str]:
    """The lines a terminal shows at the end: the cursor moves of ERASE_LINE and UP_AND_ERASE
    played back."""
    lines = [""]
    pattern = re.compile(r"(\r\x1b\[K|\x1b\[1A\x1b\[K|\n|[^\r\n\x1b]+)")
    for token in pattern.findall(output):
        if token == console_module.ERASE_LINE:
            lines[-1] = ""
        elif token == console_module.UP_AND_ERASE:
            lines.pop()
            lines[-1] = ""
        elif token == "\n":
            lines.append("")
        else:
            lines[-1] += token
    return [line for line in lines if line]
