"""A change that runs long says so while it runs, with the time so far, and stops saying it
when it ends: plain lines in a log (the e2e first deploy shows them before the packages
change's outcome), a live line on a terminal that leaves nothing behind; its outcome line
ends with its time; --quiet says nothing, --verbose adds each change's output."""

from __future__ import annotations

import io
import re
import time

import pytest

from jitsi_deploy.deploy import console as console_module
from jitsi_deploy.deploy.console import Console, Level
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
BRIDGE = Host("jvb2.example.org", "jvb", "203.0.113.11", "203.0.113.11")
INSTALL = Change("packages", "install nginx", ())
START = Change("packages", "start nginx", ())


class Stream(io.StringIO):
    """What a run printed; a terminal or not."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_a_long_step_says_what_it_does_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, seconds in (("FIRST", 0.01), ("EVERY", 0.01), ("TICK", 0.005)):
        monkeypatch.setattr(console_module, name, seconds)
    stream = Stream(terminal=False)
    with Console(stream).working(HOST) as now:
        now(INSTALL)
        wait_for_lines(stream, 2)
        now(START)
        wait_for_lines(stream, 4)
    said = stream.getvalue().splitlines()
    for line in said:
        assert line.split()[:3] == ["meet.example.org", "packages", "running"], line
        assert re.search(r"\d+s so far: (install|start) nginx$", line), line
    assert said[0].endswith("install nginx") and said[-1].endswith("start nginx"), said
    assert "\x1b" not in stream.getvalue(), "a log gets no control characters"


def wait_for_lines(stream: io.StringIO, count: int) -> None:
    deadline = time.monotonic() + 10
    while stream.getvalue().count("\n") < count:
        assert time.monotonic() < deadline, stream.getvalue()
        time.sleep(0.005)


def test_a_quick_change_says_nothing_but_its_outcome_and_a_long_one_its_time() -> None:
    stream = Stream(terminal=False)
    console = Console(stream)
    with console.working(HOST) as now:
        now(INSTALL)
        console.say(HOST, INSTALL, "changed", seconds=0.4)
        console.say(HOST, START, "changed", seconds=31.4)
    lines = stream.getvalue().splitlines()
    assert [line.split(maxsplit=3)[3] for line in lines] == [
        "install nginx",
        "start nginx (took 31s)",
    ]


def test_on_a_terminal_the_time_is_a_live_line_under_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each working host has a line under the finished ones, redrawn in place; lines said
    meanwhile go above it; when the step ends the live line is erased, not left behind."""
    monkeypatch.setattr(console_module, "REDRAW", 0.01)
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Stream(terminal=True)
    console = Console(stream)
    with console.working(HOST) as on_core, console.working(BRIDGE) as on_bridge:
        on_core(INSTALL)
        on_bridge(INSTALL)
        console.say(BRIDGE, INSTALL, "changed")
        on_bridge(START)
        frame = wait_for_frame(stream, "start nginx")  # redrawn with the bridge's next change
    assert re.search(r"meet.example.org +packages +running +\d+s  install nginx", frame), frame
    assert re.search(r"jvb2.example.org +packages +running +\d+s  start nginx", frame), frame
    screen = render(stream.getvalue())
    assert screen == [f"{'jvb2.example.org':<24} packages  changed  install nginx"], screen


def wait_for_frame(stream: io.StringIO, text: str) -> str:
    """The first drawing of the live lines that shows ``text``."""
    deadline = time.monotonic() + 10
    while True:
        frames = stream.getvalue().split(console_module.ERASE_LINE)
        if shown := [frame for frame in frames if text in frame]:
            return shown[0]
        assert time.monotonic() < deadline, frames
        time.sleep(0.005)


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
