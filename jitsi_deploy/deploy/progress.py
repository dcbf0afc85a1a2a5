"""Lines while a step runs: a step's changes are applied in one round trip and said when it
returns, so a step that takes long (packages from a slow mirror, images loading, the stack
starting) says what it is doing after FIRST seconds, then every EVERY seconds, with the time
so far: a person can tell a slow mirror from a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..settings.inventory import Host
from ..steps.changes import Change
from ..steps.step import StepPlan

Say = Callable[[Host, Change, str], None]
FIRST = 5.0
EVERY = 15.0


def doing(step: StepPlan) -> str:
    """What the step is doing, in a few words: its first change and how many follow."""
    first = step.changes[0].summary
    rest = len(step.changes) - 1
    return first if not rest else f"{first} (and {rest} more)"


@contextmanager
def ticking(
    host: Host, step: StepPlan, say: Say, first: float = FIRST, every: float = EVERY
) -> Iterator[None]:
    """Say the step's elapsed time now and then while the block runs, never after it ended."""
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        wait = first
        while not done.wait(wait):
            elapsed = round(time.monotonic() - started)
            say(host, Change(step.name, f"{elapsed}s so far: {doing(step)}", ()), "running")
            wait = every

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
