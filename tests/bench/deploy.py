"""Benchmark of `fab deploy` on rig hosts: a first deploy and a no-op re-deploy, to 1 host and
to 5 hosts, with Uptime Kuma provisioned (ENABLE_MONITORING=1) and without, side by side (wall
time, SSH round trips per host, the host's CPU). Goals: a no-op of 1 host under 0.5 s as a
whole `fab` process, in one command after the SSH login (2 round trips as counted here), with
under 0.2 s of the host's CPU; 5 hosts under 5 s.

    python -m tests.bench.deploy [--hosts 1,5] [--monitoring on,off]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from jitsi_deploy.deploy.console import Console, Level
from jitsi_deploy.deploy.fleet import run_all
from jitsi_deploy.deploy.host import HostReport, Options, deploy_host
from jitsi_deploy.deploy.monitoring import STEP as MONITORING_STEP
from jitsi_deploy.deploy.order import CoreFirst, cores_first
from jitsi_deploy.entry import load_or_exit
from jitsi_deploy.steps import images as images_step
from tests.bench import ledger
from tests.bench.process import median_seconds
from tests.e2e.site import REPO, Site, bundle
from tests.rig.hosts import cpu_seconds, start_host, stop_host


def deploy_once(site: Site) -> tuple[float, list[HostReport]]:
    deployment = load_or_exit(site.env, site.folder / "hosts")
    options = Options(known_hosts=site.folder / "known_hosts", bundle=bundle())
    hosts = cores_first(list(deployment.hosts))
    quiet = Console(level=Level.QUIET)
    started = time.monotonic()
    reports = run_all(
        hosts,
        partial(deploy_host, deployment, options=options, console=quiet, order=CoreFirst(hosts)),
    )
    failed = [r for r in reports if r.error]
    if failed:
        raise SystemExit(f"{failed[0].host.name}: {failed[0].error}")
    return time.monotonic() - started, reports


NO_OP_RUNS = 3
# A whole process is at the mercy of the host more (Kuma still settling after the first deploy).
WHOLE_PROCESS_RUNS = 7
Figures = dict[str, float]


def bench(counts: list[int], monitoring: list[str]) -> Figures:
    """For a first and a no-op deploy (median of NO_OP_RUNS): wall seconds, round trips and CPU
    per host, the first deploy's image loads and Kuma provisioning, and the no-op as a whole
    `fab` process; each configuration on its own fresh hosts."""
    figures: Figures = {}
    for count in counts:
        for mode in monitoring:
            names = [f"bench-{count}-{mode}-{n}" for n in range(count)]
            try:
                hosts = [start_host(name, "bookworm") for name in names]
                with tempfile.TemporaryDirectory() as folder:
                    site = Site(Path(folder), hosts)
                    site.write({"ENABLE_MONITORING": "1" if mode == "on" else "0"})
                    site.trust()
                    label = f"{count} host(s), monitoring {mode}"
                    figures |= _first(f"first deploy, {label}", *deploy_once(site))
                    figures |= _no_op(f"no-op re-deploy, {label}", site, names)
            finally:
                for name in names:
                    stop_host(name)
    return figures


def _first(label: str, wall: float, reports: list[HostReport]) -> Figures:
    """The first deploy, also without what a like-for-like comparison leaves out: loading the
    images (the slowest host's) and provisioning Kuma."""
    images = max(step_seconds(r, images_step.NAME) for r in reports)
    return {
        f"{label}: wall (s)": wall,
        f"{label}: wall less image loads (s)": wall - images,
        f"{label}: Uptime Kuma provisioning, slowest host (s)": max(
            step_seconds(r, MONITORING_STEP) for r in reports
        ),
        f"{label}: round trips per host": _trips(reports),
    }


def step_seconds(report: HostReport, step: str) -> float:
    return sum(o.seconds for o in report.outcomes if o.change.step == step)


def _no_op(label: str, site: Site, names: list[str]) -> Figures:
    """Wall seconds, round trips and CPU per host of a no-op re-deploy, each the median of
    NO_OP_RUNS (one run is at the mercy of a cron job on the host); then the same as a whole
    `fab deploy` process, as a person runs it."""
    runs = []
    for _ in range(NO_OP_RUNS):
        used = [cpu_seconds(name) for name in names]
        wall, reports = deploy_once(site)
        runs.append((wall, _trips(reports), _per_host(names, used, wall)))
    wall, trips, host_cpu = (statistics.median(figure) for figure in zip(*runs, strict=True))
    whole = median_seconds(site.fab_argv("deploy"), REPO, WHOLE_PROCESS_RUNS)
    return {
        f"{label}: wall (s)": wall,
        f"{label}: whole fab process (s)": whole,
        f"{label}: round trips per host": trips,
        f"{label}: CPU per host, less idle (s)": host_cpu,
    }


def _trips(reports: list[HostReport]) -> float:
    return sum(r.round_trips for r in reports) / len(reports)


def _per_host(names: list[str], before: list[float], wall: float) -> float:
    """The CPU a deploy cost each host (median): what its container used during the deploy,
    less what it uses idle (the stack, Kuma, cron) over as long a time right after."""
    during = [cpu_seconds(name) - used for name, used in zip(names, before, strict=True)]
    idle_from = [cpu_seconds(name) for name in names]
    time.sleep(wall)
    idle = [cpu_seconds(name) - used for name, used in zip(names, idle_from, strict=True)]
    return statistics.median(d - i for d, i in zip(during, idle, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,5", help="host counts, comma-separated")
    parser.add_argument("--monitoring", default="on,off", help="on, off or both")
    args = parser.parse_args()
    counts = [int(n) for n in args.hosts.split(",")]
    ledger.show("fab deploy", bench(counts, args.monitoring.split(",")))


if __name__ == "__main__":
    main()
