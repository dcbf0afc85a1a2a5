"""Benchmark of the controller's start-up: `fab --list` as a whole process (Python, Fabric and
the fabfile), and importing the fabfile alone, each the median of several runs.

    python -m tests.bench.startup [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from tests.bench import ledger
from tests.e2e.site import REPO

IMPORT = (
    "import time, fabric; t = time.perf_counter(); import fabfile; print(time.perf_counter() - t)"
)


def whole_process(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def bench(runs: int) -> dict[str, float]:
    fab_list = [whole_process([sys.executable, "-m", "fabric", "--list"]) for _ in range(runs)]
    imports = [
        float(subprocess.run([sys.executable, "-c", IMPORT], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]  # fmt: skip
    return {
        "fab --list, whole process (s)": statistics.median(fab_list),
        "import fabfile after fabric (s)": statistics.median(imports),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    ledger.show("controller start-up", bench(parser.parse_args().runs))


if __name__ == "__main__":
    main()
