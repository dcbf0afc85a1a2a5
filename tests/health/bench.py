"""Benchmark of jitsi-health on a stand-in stack (tests/standin; the real images can't be had).

Prints the wall and CPU time (user+sys of the script and its children) of one run on a healthy
stack, and for several faults how many cron periods (runs) pass from the fault to a healthy
report, with the default FAILS_BEFORE_ACTION=2.

    python -m tests.health.bench [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import ledger
from tests.health.healthstack import Stack, docker

FAULTS: dict[str, Callable[[Stack], object]] = {
    "jvb health 500": lambda s: s.exec("jvb", "touch", "/tmp/fault-health"),
    "jvb xmpp lost (bridges 0)": lambda s: s.exec("jvb", "touch", "/tmp/fault-xmpp-lost"),
    "jicofo frozen (SIGSTOP)": lambda s: docker("kill", "-s", "STOP", s.container("jicofo")),
    "prosody killed": lambda s: docker("kill", s.container("prosody")),
}


def timed_run(stack: Stack) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (children user+sys) and exit code of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = stack.run().returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, code


def periods_to_healthy(stack: Stack, inject: Callable[[Stack], object], limit: int = 10) -> int:
    inject(stack)
    for period in range(1, limit + 1):
        if timed_run(stack)[2] == 0:
            return period
    return -1


def bench(runs: int = 20) -> dict[str, float]:
    """Run the benchmark, print the figures and return them."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(workdir=Path(tmp))
        try:
            stack.up()
            stack.configure(CHECK_TIMEOUT=5, STOP_TIMEOUT=10, FAILS_BEFORE_ACTION=2)
            samples = [timed_run(stack) for _ in range(runs)]
            figures["healthy_run_wall_s"] = statistics.median(s[0] for s in samples)
            figures["healthy_run_cpu_s"] = statistics.median(s[1] for s in samples)
            print(f"healthy run ({runs} runs, median): wall {figures['healthy_run_wall_s']:.3f} s,"
                  f" cpu {figures['healthy_run_cpu_s']:.3f} s")  # fmt: skip
            for name, inject in FAULTS.items():
                start = time.perf_counter()
                periods = periods_to_healthy(stack, inject)
                wall = time.perf_counter() - start
                figures[f"periods:{name}"] = periods
                print(f"{name}: healthy after {periods} cron periods (runs took {wall:.1f} s)")
                stack.wait_healthy()
        finally:
            stack.down()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    ledger.show("health check", bench(parser.parse_args().runs))
