"""Many hosts at once: work on them in parallel, a bounded number at a time."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

MAX_PARALLEL = 10
Item = TypeVar("Item")
Result = TypeVar("Result")


def run_all(
    hosts: list[Item], work: Callable[[Item], Result], parallel: int = MAX_PARALLEL
) -> list[Result]:
    """Run ``work`` on every host, ``parallel`` at a time; one host failing leaves the others
    running."""
    with ThreadPoolExecutor(max_workers=min(parallel, len(hosts) or 1)) as pool:
        return list(pool.map(work, hosts))
