"""A throwaway Jitsi stack of stand-in images on the real Docker engine, and jitsi-health runs
against it. Shared by the health tests and the benchmark.

The real Jitsi images cannot be fetched on the test machines: the stack runs the stand-ins from
tests/standin (a real Prosody, nginx, XMPP clients as jicofo and jvb), which answer the same
endpoints on the same ports and hold the stack to the images' runtime contract.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jitsi_deploy.model import health
from jitsi_deploy.model import services as catalog
from jitsi_deploy.render.validate import compose_command
from tests.ports import free_port
from tests.standin import build

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "scripts" / "jitsi-health"
SERVICES = ("web", "prosody", "jicofo", "jvb", "uptime-kuma")
IMAGE_VARS = {s: f"{s.upper()}_IMAGE" for s in SERVICES} | {"uptime-kuma": "KUMA_IMAGE"}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


@dataclass
class Stack:
    """One compose project in its own directory, with a health.conf pointing at it."""

    workdir: Path
    project: str = field(default_factory=lambda: f"jh{uuid.uuid4().hex[:10]}")
    ports: dict[str, int] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.workdir / "health.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "health.log"

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    def up(self) -> None:
        images = build.build_standins(build.local_names())
        self.ports = {"web": free_port(), "jicofo": free_port(), "jvb": free_port()}
        env = {IMAGE_VARS[s]: img for s, img in images.items()}
        env |= {f"{s.upper()}_PORT": str(p) for s, p in self.ports.items()}
        shutil.copy(HERE / "stack.yml", self.workdir / "docker-compose.yml")
        (self.workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.compose("up", "-d")
        self.configure()
        self.wait_healthy()

    def down(self) -> None:
        self.compose("down", "-t", "0", "-v")

    def compose(self, *args: str) -> None:
        subprocess.run(
            [*compose_command(), "-p", self.project, *args],
            cwd=self.workdir,
            check=True,
            capture_output=True,
        )

    def configure(self, **overrides: str | int) -> None:
        """(Re)write health.conf: fast timeouts, no systemd, nginx off unless a test turns it on."""
        self.settings |= {
            "COMPOSE_PROJECT": self.project,
            "COMPOSE_DIR": str(self.workdir),
            "SERVICES": " ".join(SERVICES),
            "CHECK_DOCKER": "0",
            "CHECK_NGINX": "0",
            "CHECK_TIMEOUT": "2",
            "STOP_TIMEOUT": "1",
            "BACKOFF_BASE": "0",
            "STATE_DIR": str(self.state),
            "LOG_FILE": str(self.log),
        } | {k: str(v) for k, v in overrides.items()}
        lines = [f"{k}='{v}'\n" for k, v in self.settings.items()]
        self.config.write_text("".join(lines) + self.service_checks())

    def service_checks(self) -> str:
        """The product's checks of these services, pointed at this stack's published ports."""
        wanted = self.settings["SERVICES"].split()
        services = [s for s in catalog.SERVICES if s.name in wanted]
        published = {":8000/": "web", ":8080/": "jvb", ":8888/": "jicofo"}
        entries = []
        # This stack's prosody runs without the project's room policy module (tests/standin
        # and tests/prosody cover its health route): its check is left out here.
        checks = [e for e in health.check_entries(services) if " room-policy " not in e]
        for entry in checks:
            for port, service in published.items():
                entry = entry.replace(port, f":{self.ports[service]}/")
            entries.append(entry)
        checks = "".join(f"  '{entry}'\n" for entry in entries)
        after = "".join(f"  '{e}'\n" for e in health.restart_after_entries(services))
        return f"SERVICE_CHECKS=(\n{checks})\nRESTART_AFTER=(\n{after})\n"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One run of the real script, as cron would start it."""
        return subprocess.run(
            [str(SCRIPT), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def healthy_within(self, runs: int, period: float = 30.0) -> bool:
        """Whether every check reports ok within `runs` cron periods of `period` seconds (shorter
        than cron's minute): a restarted service needs its seconds to come back, as a real one
        does, so the report is polled meanwhile instead of running back to back."""
        return self._report_until(lambda code: code == 0, runs * period)

    def fault_seen_within(self, limit: float = 30.0) -> bool:
        """Whether the report turns red within `limit` seconds of a fault: some faults take the
        stand-ins seconds to show, as they do real services (jicofo counts a lost bridge out
        after its session closes), and the run that must act should come after that."""
        return self._report_until(lambda code: code != 0, limit)

    def _report_until(self, wanted: Callable[[int], bool], limit: float) -> bool:
        return report_until(lambda: self.run("--report").returncode, wanted, limit)

    def container(self, service: str) -> str:
        out = docker(
            "ps", "-aq",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        return out.split()[0]

    def started_at(self) -> dict[str, str]:
        """When each service's container last started: changes exactly when it was restarted."""
        return {s: docker("inspect", "-f", "{{.State.StartedAt}}", self.container(s)).strip()
                for s in SERVICES}  # fmt: skip

    def exec(self, service: str, *cmd: str) -> None:
        docker("exec", self.container(service), *cmd)

    def wait_healthy(self, limit: float = 30.0) -> None:
        """Wait until Docker reports every healthcheck healthy and jicofo sees the bridge, which
        joins the brewery after its own health is green (a precondition, not a result)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            states = {self.health(s) for s in SERVICES}
            if states == {"healthy"} and self.bridges() >= 1:
                return
            time.sleep(0.5)
        raise RuntimeError(f"stack {self.project} not ready: {states}, bridges {self.bridges()}")

    def wait_health(self, service: str, wanted: str, limit: float = 30.0) -> None:
        """Wait until Docker reports ``wanted`` ("healthy", "unhealthy") for ``service``."""
        deadline = time.monotonic() + limit
        while (status := self.health(service)) != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} still {status}, not {wanted}")
            time.sleep(0.5)

    def health(self, service: str) -> str:
        return docker("inspect", "-f", "{{.State.Health.Status}}", self.container(service)).strip()

    def bridges(self) -> int:
        """jicofo's operational bridge count, -1 while it does not answer."""
        url = f"http://127.0.0.1:{self.ports['jicofo']}/stats"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.load(response)["bridge_selector"]["operational_bridge_count"]
        except (OSError, ValueError, KeyError):
            return -1

    def log_lines(self, word: str) -> list[str]:
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if f" {word} " in line]


def report_until(report: Callable[[], int], wanted: Callable[[int], bool], limit: float) -> bool:
    """Whether the exit code of ``report`` (a `--report` run) becomes ``wanted`` within
    ``limit`` seconds, asked each second."""
    deadline = time.monotonic() + limit
    while not wanted(report()):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True
