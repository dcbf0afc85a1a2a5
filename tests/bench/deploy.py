"""Benchmark of `fab deploy` on rig hosts: a first deploy and a no-op re-deploy, to 1 host and
to 5 hosts, with Uptime Kuma provisioned (ENABLE_MONITORING=1) and without, side by side (wall
time, SSH round trips per host). Goals: a no-op re-deploy of 5 hosts in under 5 s with a
handful of round trips per host, and monitoring adding at most one round trip to it.

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
from jitsi_deploy.entry import load_or_exit
from tests.bench import ledger
from tests.e2e.site import Site, bundle
from tests.rig.hosts import cpu_seconds, start_host, stop_host


def deploy_once(site: Site) -> tuple[float, list[HostReport]]:
    deployment = load_or_exit(site.env, site.folder / "hosts")
    options = Options(known_hosts=site.folder / "known_hosts", bundle=bundle(site.folder))
    started = time.monotonic()
    reports = run_all(
        list(deployment.hosts),
        partial(deploy_host, deployment, options=options, console=Console(level=Level.QUIET)),
    )
    failed = [r for r in reports if r.error]
    if failed:
        raise SystemExit(f"{failed[0].host.name}: {failed[0].error}")
    return time.monotonic() - started, reports


Row = tuple[int, str, str, float, float, float]
NO_OP_RUNS = 3


def bench(counts: list[int], monitoring: list[str]) -> list[Row]:
    """(hosts, monitoring, run, wall seconds, round trips per host, CPU per host) for a first
    and a no-op deploy (median of NO_OP_RUNS); each configuration on its own fresh hosts."""
    rows = []
    for count in counts:
        for mode in monitoring:
            names = [f"bench-{count}-{mode}-{n}" for n in range(count)]
            try:
                hosts = [start_host(name, "bookworm") for name in names]
                with tempfile.TemporaryDirectory() as folder:
                    site = Site(Path(folder), hosts)
                    site.write({"ENABLE_MONITORING": "1" if mode == "on" else "0"})
                    site.trust()
                    wall, reports = deploy_once(site)
                    rows.append((count, mode, "first deploy", wall, _trips(reports), 0))
                    rows.append((count, mode, "no-op re-deploy", *_no_op(site, names)))
            finally:
                for name in names:
                    stop_host(name)
    return rows


def _no_op(site: Site, names: list[str]) -> tuple[float, float, float]:
    """Wall seconds, round trips and CPU per host of a no-op re-deploy, each the median of
    NO_OP_RUNS (one run is at the mercy of a cron job on the host)."""
    runs = []
    for _ in range(NO_OP_RUNS):
        used = [cpu_seconds(name) for name in names]
        wall, reports = deploy_once(site)
        runs.append((wall, _trips(reports), _per_host(names, used, wall)))
    return tuple(statistics.median(figure) for figure in zip(*runs, strict=True))  # type: ignore[return-value]


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


def figures(rows: list[Row]) -> dict[str, float]:
    named = {}
    for count, mode, run, wall, trips, host_cpu in rows:
        label = f"{run}, {count} host(s), monitoring {mode}"
        named[f"{label}: wall (s)"] = wall
        named[f"{label}: round trips per host"] = trips
        if host_cpu:  # measured for the no-op only: idle is measured for as long again
            named[f"{label}: CPU per host, less idle (s)"] = host_cpu
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,5", help="host counts, comma-separated")
    parser.add_argument("--monitoring", default="on,off", help="on, off or both")
    args = parser.parse_args()
    rows = bench([int(n) for n in args.hosts.split(",")], args.monitoring.split(","))
    ledger.show("fab deploy", figures(rows))


if __name__ == "__main__":
    main()
