"""Warn when the containers' memory limits add up to more than the host has.

A limit is a ceiling, not a reservation, so such a host still deploys; under load, though, the
kernel's OOM killer ends a container (a meeting service) before any limit is reached. The
warning says so with the numbers, from MemTotal read in the facts round trip.
"""

from __future__ import annotations

from ..render.host import Rendered
from ..settings.reader import size_mib
from ..steps.changes import Change
from ..steps.facts import Fact, fixed
from .runner import Outcome

STEP = "memory"


def parse_total(lines: list[str]) -> int:
    """MiB of MemTotal (/proc/meminfo says kB); 0 when unread."""
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemTotal" and value.split():
            return int(value.split()[0]) // 1024
    return 0


MEMORY_TOTAL = Fact("memory-total", fixed("grep '^MemTotal:' /proc/meminfo"), parse_total)
FACTS = (MEMORY_TOTAL,)


def limits_mib(rendered: Rendered) -> dict[str, int]:
    memory = rendered.site.tuning.memory
    return {service: size_mib(memory[service]) for service in rendered.service_names}


def warning(rendered: Rendered, total_mib: int) -> Outcome | None:
    """A warning outcome for the recap when the limits exceed the host's memory."""
    limits = limits_mib(rendered)
    wanted = sum(limits.values())
    if not total_mib or wanted <= total_mib:
        return None
    largest = max(limits, key=lambda service: limits[service])
    text = (
        f"the containers' memory limits add up to {_gib(wanted)} but this host has "
        f"{_gib(total_mib)}: under load the kernel ends a container before its limit (likely "
        f"{largest}, the largest). Lower the *_MEMORY_LIMIT settings or use a larger server."
    )
    return Outcome(Change(STEP, "check the memory limits against the host", ()), "warning", text)


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f} GiB"
