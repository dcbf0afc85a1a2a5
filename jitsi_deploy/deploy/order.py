"""The core before its bridges: a bridge starts its containers only once the core of the same
run has applied its changes.

A bridge's jvb logs in to the core's Prosody, through the core's firewall, with the password the
core's account holds. Started first, it would knock at a door about to open (a new bridge) or
log in with a password the core does not hold yet (a rotation), and then wait out its reconnect
back-off. So while the core applies, a bridge applies the steps before its containers, waits,
then applies the rest; once the core is done (or failed, or had nothing to do), or when no
core is deployed in the run, nothing waits and each host's changes go in one script as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from ..settings.inventory import Host
from ..steps import handlers
from ..steps.changes import Change
from ..steps.step import StepPlan

CORE = "core"
WAIT_FOR_CORE = Change(handlers.NAME, "wait until the core has applied its changes", ())
Batch = tuple[list[StepPlan], Callable[[], object] | None]


def cores_first(hosts: list[Host]) -> list[Host]:
    """The core ahead of its bridges, so that it has a worker even when fewer workers than
    hosts run at once (a bridge waiting on a core that never starts would wait for ever)."""
    return sorted(hosts, key=lambda host: host.role != CORE)


class CoreFirst:
    """Holds back the bridges' containers while the core of this run applies its changes."""

    def __init__(self, hosts: list[Host]) -> None:
        self._core_done = threading.Event()
        if not any(host.role == CORE for host in hosts):
            self._core_done.set()

    def done(self, host: Host) -> None:
        """Called when ``host`` will change nothing more that its bridges depend on."""
        if host.role == CORE:
            self._core_done.set()

    def batches(self, host: Host, steps: list[StepPlan]) -> Iterator[Batch]:
        """``steps`` as the scripts to run, each with what to wait for first (None: nothing)."""
        if host.role == CORE or self._core_done.is_set():
            yield steps, None
            return
        at = next((i for i, step in enumerate(steps) if step.name == handlers.NAME), len(steps))
        if steps[:at]:
            yield steps[:at], None
        if steps[at:]:
            yield steps[at:], self._core_done.wait


# For a deploy of hosts one by one, each on its own: nothing is held back.
UNORDERED = CoreFirst([])
