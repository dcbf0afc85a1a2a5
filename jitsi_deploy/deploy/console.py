"""Where a converge speaks while it works: one line per change as it ends, and, while a
change runs long, its time so far, so a person can tell a slow mirror from a hang.

On a terminal that time is a live line per working host under the others, redrawn each
second; elsewhere (a CI log, a file, a pipe) a plain line after FIRST seconds, then every
EVERY seconds, and no control characters. A change that ran FIRST seconds or more ends with
its time. ``quiet`` says nothing (the recap follows); ``verbose`` adds each change's output.
Threads never interleave within a line.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, TextIO

from ..paint import paint
from ..settings.inventory import Host
from ..steps.changes import Change

FIRST = 5.0
EVERY = 15.0
REDRAW = 1.0
TICK = 0.5  # how often the plain lines' clock looks
ERASE_LINE = "\r\x1b[K"
UP_AND_ERASE = "\x1b[1A\x1b[K"


class Level(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


class Say(Protocol):
    def __call__(
        self, host: Host, change: Change, status: str, output: str = "", seconds: float = 0.0
    ) -> None: ...


Now = Callable[[Change], None]


@dataclass(frozen=True)
class Working:
    """A host's change in progress, since when."""

    change: Change
    started: float


def is_live(stream: TextIO) -> bool:
    """A terminal that understands cursor movement."""
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


class Console:
    """The progress of many hosts at once, on one stream."""

    def __init__(
        self, stream: TextIO | None = None, level: Level = Level.NORMAL, live: bool | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        self.level = level
        self.live = is_live(self.stream) if live is None else live
        self._lock = threading.Lock()
        self._working: dict[str, Working] = {}
        self._shown = 0  # live lines now under the others
        self._redrawing = False  # a thread redraws the live lines (under the lock)

    def say(
        self, host: Host, change: Change, status: str, output: str = "", seconds: float = 0.0
    ) -> None:
        """One line for a change's outcome, with its time when it ran long; with ``verbose``,
        its output under it."""
        if self.level == Level.QUIET:
            return
        shown = paint(f"{status:<8}", status, self.stream)
        took = f" (took {seconds:.0f}s)" if seconds >= FIRST else ""
        lines = [f"{host.name:<24} {change.step:<9} {shown} {change.summary}{took}"]
        if self.level == Level.VERBOSE:
            lines += [f"{'':<24} | {line}" for line in output.rstrip().splitlines()]
        with self._lock:
            self._erase()
            self.stream.write("".join(f"{line}\n" for line in lines))
            self._draw()
            self.stream.flush()

    @contextmanager
    def working(self, host: Host) -> Iterator[Now]:
        """While the block runs, ``now(change)`` names the change ``host`` runs: its time so
        far shows until the next one, or the block's end (never after it)."""
        if self.level == Level.QUIET:
            yield lambda change: None
            return
        with self._live(host) if self.live else self._ticking(host) as now:
            yield now

    def ask(self, question: str) -> bool:
        """A yes/no question; other hosts' lines wait until it is answered."""
        with self._lock:
            self._erase()
            self.stream.flush()
            try:
                answer = input(f"{question} [y/N] ")
            except EOFError:
                answer = ""
        return answer.strip().lower() in ("y", "yes")

    @contextmanager
    def _live(self, host: Host) -> Iterator[Now]:
        """A terminal: the host's live line shows the change and its time, redrawn each second."""

        def now(change: Change) -> None:
            with self._lock:
                self._working[host.name] = Working(change, time.monotonic())
                self._start_redrawing()

        try:
            yield now
        finally:
            with self._lock:
                self._working.pop(host.name, None)
                self._erase()
                self._draw()
                self.stream.flush()

    @contextmanager
    def _ticking(self, host: Host) -> Iterator[Now]:
        """Plain lines: a change still running after FIRST seconds says so, then every EVERY."""
        done, guard = threading.Event(), threading.Lock()
        state: list[tuple[Working, float]] = []  # the change now running, and when it speaks

        def now(change: Change) -> None:
            with guard:
                state[:] = [(Working(change, time.monotonic()), FIRST)]

        def due() -> tuple[Working, float] | None:
            """The running change and its time so far, when a line is due (then the next)."""
            with guard:
                if not state:
                    return None
                work, at = state[0]
                elapsed = time.monotonic() - work.started
                if elapsed < at:
                    return None
                state[:] = [(work, at + EVERY)]
                return work, elapsed

        def tick() -> None:
            while not done.wait(TICK):
                if speak := due():
                    work, elapsed = speak
                    summary = f"{round(elapsed)}s so far: {work.change.summary}"
                    self.say(host, Change(work.change.step, summary, ()), "running")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield now
        finally:
            done.set()
            ticker.join()

    def _start_redrawing(self) -> None:
        """One thread redraws the live lines each second while any host works; called, like
        the thread's decision to end, under the lock."""
        if self._redrawing:
            return

        def redraw() -> None:
            while True:
                time.sleep(REDRAW)
                with self._lock:
                    if not self._working:
                        self._redrawing = False
                        return
                    self._erase()
                    self._draw()
                    self.stream.flush()

        self._redrawing = True
        threading.Thread(target=redraw, daemon=True).start()

    def _draw(self) -> None:
        """The live lines, one per working host, cut to the terminal's width (a wrapped line
        could not be erased)."""
        if not self._working:
            return
        size = shutil.get_terminal_size()
        now = time.monotonic()
        working = sorted(self._working.items())
        room = max(size.lines - 2, 1)
        lines = [
            f"{name:<24} {w.change.step:<9} running {round(now - w.started):>4}s  "
            f"{w.change.summary}"
            for name, w in working[:room]
        ]
        if len(working) > room:
            lines[-1] = f"... and {len(working) - room + 1} more hosts working"
        self.stream.write("\n".join(_cut(line, size.columns - 1) for line in lines))
        self._shown = len(lines)

    def _erase(self) -> None:
        """Take the live lines away, leaving the cursor where the next line goes."""
        if self._shown:
            self.stream.write(ERASE_LINE + UP_AND_ERASE * (self._shown - 1))
            self._shown = 0


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"
