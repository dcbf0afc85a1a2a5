"""Benchmark of the controller's start-up: `fab --list` as a whole process (Python, Fabric and
the fabfile), and importing the fabfile alone, each the median of several runs, with Python's
bytecode cache as a person has it (tests/bench/process.py).

    python -m tests.bench.startup [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from tests.bench import ledger
from tests.bench.process import AS_A_PERSON_RUNS_IT, median_seconds
from tests.e2e.site import REPO

IMPORT = (
    "import time, fabric; t = time.perf_counter(); import fabfile; print(time.perf_counter() - t)"
)


def bench(runs: int) -> dict[str, float]:
    fab_list = median_seconds([sys.executable, "-m", "fabric", "--list"], REPO, runs)
    imports = [
        float(subprocess.run([sys.executable, "-c", IMPORT], cwd=REPO, check=True,
                             env=AS_A_PERSON_RUNS_IT, capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]  # fmt: skip
    return {
        "fab --list, whole process (s)": fab_list,
        "import fabfile after fabric (s)": statistics.median(imports),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    ledger.show("controller start-up", bench(parser.parse_args().runs))


if __name__ == "__main__":
    main()
