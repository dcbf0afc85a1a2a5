"""Wait for a busy package manager before the packages step, saying so now and then.

On a new server unattended-upgrades may hold apt's locks for minutes; apt-get would fail at
once. The facts say who holds them; the deploy then waits up to a bound, a progress line every
PAUSE seconds, and stops with a message naming the holder before anything is installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import DeployError
from ..remote.transport import Remote
from ..settings.inventory import Host
from ..steps import packages
from ..steps.changes import Change
from ..steps.packages import LockHolder
from .console import Say

Probe = Callable[[float], tuple[LockHolder, ...]]
# How long one probe waits on the host (it returns as soon as the locks are free): also how
# often a progress line is printed.
PAUSE = 30.0


def remote_probe(remote: Remote) -> Probe:
    """A probe that waits on the host, up to the given seconds, for the locks to be free."""

    def probe(seconds: float) -> tuple[LockHolder, ...]:
        output = remote.run_script(packages.lock_probe(round(seconds)), timeout=round(seconds) + 60)
        return packages.parse_holders(output.stdout.splitlines())

    return probe


def wait_for_locks(
    host: Host,
    holders: tuple[LockHolder, ...],
    probe: Probe,
    say: Say,
    bound: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once nobody holds the locks; a DeployError naming the holder after ``bound``."""
    started = clock()
    while holders:
        waited = clock() - started
        left = bound - waited
        if left <= 0:
            raise DeployError(packages.lock_message(holders, waited))
        line = f"{packages.holders_text(holders)}; waiting up to {packages.minutes(left)} more"
        say(host, Change(packages.NAME, line, ()), "waiting")
        holders = probe(min(PAUSE, left))
