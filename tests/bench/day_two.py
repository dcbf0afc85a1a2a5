"""Benchmark of the day-two commands on one fresh Debian 12 core (monitoring on): `fab backup`
(time, archive size), the host's nightly job, `fab restore` onto the same host, and the downtime
of a release change, `fab update` side by side with a plain Compose `up -d` after the image tag
is edited (what `docker compose pull && docker compose up -d` does on a host that already has
the images: the test hosts reach no registry).

Downtime is what a browser would see: the site's page and its BOSH endpoint, asked through the
core's nginx every 0.2 s from this machine; it is the longest stretch without both answering
200, from the last good answer before it to the first good one after.

    python -m tests.bench.day_two
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from jitsi_deploy.model import paths
from jitsi_deploy.steps.handlers import COMPOSE
from tests.bench import ledger
from tests.e2e.site import Site
from tests.e2e.test_update import GOOD, release
from tests.rig.hosts import TestHost, host_exec, start_host, stop_host
from tests.standin.build import JITSI_TAG

SITE_NAME = "meet.example.org"
PROBE_PAUSE = 0.2


class Downtime:
    """Probes the site in a thread while a block runs; ``seconds`` is the longest outage."""

    def __init__(self, host: TestHost) -> None:
        self.resolve = f"{SITE_NAME}:443:{host.address}"
        self.answers: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def __enter__(self) -> Downtime:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(2)  # a few good answers after the command, to close the last outage
        self._stop.set()
        self._thread.join()

    def good(self) -> bool:
        urls = [f"https://{SITE_NAME}/", f"https://{SITE_NAME}/http-bind"]
        argv = ["curl", "-sk", "--max-time", "2", "--resolve", self.resolve, "-w", "%{http_code} "]
        argv += [arg for url in urls for arg in ("-o", "/dev/null", url)]
        codes = subprocess.run(argv, capture_output=True, text=True).stdout.split()
        return codes == ["200", "200"]

    def _probe(self) -> None:
        while not self._stop.is_set():
            self.answers.append((time.monotonic(), self.good()))
            time.sleep(PROBE_PAUSE)

    @property
    def seconds(self) -> float:
        """The longest time from a good answer to the next good one with bad ones between."""
        longest, last_good, bad_since = 0.0, None, False
        for when, good in self.answers:
            if not good:
                bad_since = True
            elif bad_since and last_good is not None:
                longest, bad_since = max(longest, when - last_good), False
            if good:
                last_good = when
        return longest


def timed(run: Callable[[], subprocess.CompletedProcess[str]]) -> float:
    started = time.monotonic()
    done = run()
    if done.returncode != 0:
        raise SystemExit(f"{done.args} failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - started


def plain_compose_update(host: TestHost, old: str, new: str) -> subprocess.CompletedProcess[str]:
    """The image tag edited in the compose file, then Compose's own `up -d`."""
    host_exec(host, "sed", "-i", f's/:{old}"/:{new}"/', paths.COMPOSE_FILE, check=True)
    return host_exec(host, "sh", "-c", COMPOSE, "compose", "up", "-d")


def await_kuma(host: TestHost) -> None:
    inspect = ("docker", "inspect", "-f", "{{.State.Health.Status}}", "jitsi-uptime-kuma")
    deadline = time.monotonic() + 300
    while host_exec(host, *inspect).stdout.strip() != "healthy":
        if time.monotonic() > deadline:
            raise SystemExit("Uptime Kuma does not become healthy")
        time.sleep(1)


def await_site(host: TestHost) -> None:
    """Until the site answers, so an outage measured next starts from a good answer."""
    probe = Downtime(host)
    deadline = time.monotonic() + 300
    while not probe.good():
        if time.monotonic() > deadline:
            raise SystemExit("the site does not answer")
        time.sleep(1)


def bench(site: Site, folder: Path) -> dict[str, float]:
    core = site.hosts[0]
    figures = {}
    backups = folder / "backups"
    figures["fab backup over SSH (s)"] = timed(run=lambda: site.fab("backup", "--to", str(backups)))
    (archive,) = (backups / core.name).glob("*.tar.gz")
    figures["fab backup: archive (KiB)"] = archive.stat().st_size / 1024
    await_kuma(core)  # the backup restarted it; a Kuma still starting is slow to stop
    job = [paths.HOST_BACKUP_SCRIPT, "--config", paths.HOST_BACKUP_CONFIG]
    figures["nightly job on the host (s)"] = timed(run=lambda: host_exec(core, *job))
    restore = ["-H", f"root@{core.address}", "restore", "--from", str(archive), "--no-smoke"]
    figures["fab restore, same host, no smoke (s)"] = timed(run=lambda: site.fab(*restore))

    release(site, GOOD)
    await_site(core)
    update = ["update", "--version", GOOD, "--resolve", f"{core.address}:443", "--wait", "180"]
    with Downtime(core) as ours:
        figures["fab update: whole command (s)"] = timed(run=lambda: site.fab(*update))
    figures["fab update: downtime (s)"] = ours.seconds
    await_site(core)
    with Downtime(core) as plain:
        seconds = timed(run=lambda: plain_compose_update(core, GOOD, JITSI_TAG))
    figures["edit the tag + compose up -d: command (s)"] = seconds
    figures["edit the tag + compose up -d: downtime (s)"] = plain.seconds
    return figures


def main() -> None:
    name = "bench-day-two"
    try:
        with tempfile.TemporaryDirectory() as folder:
            site = Site(Path(folder), [start_host(name, "bookworm")])
            site.write()
            site.trust()
            first = site.fab("deploy")
            if first.returncode != 0:
                raise SystemExit(first.stdout + first.stderr)
            figures = bench(site, Path(folder))
    finally:
        stop_host(name)
    ledger.show("day two", figures)


if __name__ == "__main__":
    main()
