"""The health check on a deployed core, for fault tests: the stack the product rendered there
(its compose file, with the site's CONTAINER_HEALTH_INTERVAL and the rendered start periods),
the health.conf it rendered (CHECK_DOCKER on, its service checks and restart rules), and the
real script. Only what a test must control is set after the product's lines in a copy of
health.conf: where the state and log go, the armed mark, the tunables a test varies. The
host's own cron runs are disarmed meanwhile, so only the test's runs act.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jitsi_deploy.model import paths
from jitsi_deploy.model.services import JICOFO_STATS_URL, container_name
from jitsi_deploy.steps.handlers import COMPOSE
from tests.health.healthstack import report_until
from tests.rig.hosts import TestHost, host_exec

SERVICES = ("web", "prosody", "jicofo", "jvb", "uptime-kuma")
FOLDER = "/root/health-test"
CONFIG = f"{FOLDER}/health.conf"
JICOFO_HEALTH = "http://127.0.0.1:8888/about/health"


@dataclass
class DeployedStack:
    host: TestHost
    settings: dict[str, str] = field(default_factory=dict)
    state: str = f"{FOLDER}/state"
    log: str = f"{FOLDER}/health.log"
    armed: str = f"{FOLDER}/armed"

    def sh(self, script: str, *args: str, input: str | None = None) -> str:
        done = host_exec(self.host, "sh", "-c", script, "sh", *args, input=input)
        if done.returncode != 0:
            raise RuntimeError(f"{script!r} on {self.host.name}: {done.stdout}{done.stderr}")
        return done.stdout

    def docker(self, *args: str) -> str:
        return self.sh('docker "$@"', *args)

    def exec(self, service: str, *cmd: str) -> None:
        self.docker("exec", self.container(service), *cmd)

    @staticmethod
    def container(service: str) -> str:
        return container_name(service)

    def compose(self, *args: str) -> None:
        self.sh(COMPOSE, *args)

    def configure(self, **overrides: str | int) -> None:
        """The product's health.conf, then this test's lines: a fresh state, log and armed mark
        of its own, two failed runs before an action, no back-off, and 2 s for a probe that
        hangs (a frozen service) instead of 5, unless a test says otherwise."""
        self.settings |= {
            "STATE_DIR": self.state,
            "LOG_FILE": self.log,
            "ARMED_FILE": self.armed,
            "FAILS_BEFORE_ACTION": "2",
            "BACKOFF_BASE": "0",
            "CHECK_TIMEOUT": "2",
        } | {k: str(v) for k, v in overrides.items()}
        lines = "".join(f"{k}='{v}'\n" for k, v in self.settings.items())
        self.sh(f'cat {paths.HEALTH_CONFIG} - > "$1"', CONFIG, input=lines)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One run of the product's script, as its cron entry starts it."""
        return host_exec(self.host, paths.HEALTH_SCRIPT, "--config", CONFIG, *args)

    def exists(self, path: str) -> bool:
        return host_exec(self.host, "test", "-e", path).returncode == 0

    def log_text(self) -> str:
        return host_exec(self.host, "cat", self.log).stdout

    def log_lines(self, word: str) -> list[str]:
        return [line for line in self.log_text().splitlines() if f" {word} " in line]

    def started_at(self) -> dict[str, str]:
        """When each service's container last started: changes exactly when it was restarted."""
        names = [self.container(s) for s in SERVICES]
        out = self.docker("inspect", "-f", "{{.Name}} {{.State.StartedAt}}", *names)
        by_name = dict(line.lstrip("/").split(" ", 1) for line in out.splitlines())
        return {s: by_name[self.container(s)] for s in SERVICES}

    def health(self, service: str) -> str:
        status = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
        return self.docker("inspect", "-f", status, self.container(service)).strip()

    def ready(self, service: str) -> bool:
        """Healthy, or running where the image has no health check."""
        return self.health(service) in ("healthy", "running")

    def wait_health(self, service: str, wanted: str, limit: float = 90.0) -> None:
        self._until(lambda: self.health(service) == wanted, f"{service} {wanted}", limit)

    def bridges(self) -> int:
        """jicofo's operational bridge count, -1 while it does not answer."""
        done = host_exec(self.host, "curl", "-fsS", "--max-time", "3", JICOFO_STATS_URL)
        try:
            return json.loads(done.stdout)["bridge_selector"]["operational_bridge_count"]
        except (ValueError, KeyError):
            return -1

    def jicofo_health(self) -> str:
        argv = ("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", JICOFO_HEALTH)
        return host_exec(self.host, *argv).stdout

    def wait_jicofo_health(self, status: str, limit: float = 60.0) -> None:
        self._until(lambda: self.jicofo_health() == status, f"jicofo health {status}", limit)

    def healthy_within(self, limit: float = 120.0) -> bool:
        """Whether every check of the product's report passes within ``limit`` seconds."""
        return self._report_until(lambda code: code == 0, limit)

    def fault_seen_within(self, limit: float = 60.0) -> bool:
        """Whether the report turns red within ``limit`` seconds of a fault: some faults take
        the services seconds to show (jicofo counts a lost bridge out after its session ends)."""
        return self._report_until(lambda code: code != 0, limit)

    def _report_until(self, wanted: Callable[[int], bool], limit: float) -> bool:
        return report_until(lambda: self.run("--report").returncode, wanted, limit)

    def restore(self) -> None:
        """Back to the deployed stack, healthy: frozen or paused containers go on, fault flags
        go, and what a test stopped or removed is brought up by the product's compose file."""
        thaw = (
            'for c in "$@"; do docker unpause "$c"; docker kill -s CONT "$c"; '
            'docker exec "$c" rm -f /tmp/fault-health /tmp/fault-xmpp-lost /var/fault/health; '
            "done >/dev/null 2>&1; true"
        )
        self.sh(thaw, *(self.container(s) for s in SERVICES))
        if not all(self.ready(s) for s in SERVICES):
            self.compose("up", "-d")
            self._until(lambda: all(self.ready(s) for s in SERVICES), "all healthy", 120)
        self._until(lambda: self.bridges() >= 1, "a bridge in jicofo's count", 60)
        self.sh(f'rm -rf "$1" && mkdir -p "$1" && : > "{self.armed}"', FOLDER)
        self.settings = {}
        self.configure()

    @staticmethod
    def _until(done: Callable[[], bool], what: str, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"not {what} after {limit:.0f} s")
            time.sleep(0.5)
