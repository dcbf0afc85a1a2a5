"""A whole `fab` process timed as a person runs it: with Python's bytecode cache, which test
machines often turn off (PYTHONDONTWRITEBYTECODE) and which would otherwise put compiling
every module into each figure."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

AS_A_PERSON_RUNS_IT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(argv: list[str], cwd: Path, runs: int) -> float:
    """The median wall time of ``runs`` runs, after one that fills the bytecode cache."""
    times = [_timed(argv, cwd) for _ in range(runs + 1)]
    return statistics.median(times[1:])


def _timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=AS_A_PERSON_RUNS_IT, check=True, capture_output=True)
    return time.perf_counter() - started
