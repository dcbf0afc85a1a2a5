"""The meeting history's real parts, side by side on this machine's Docker: Prosody 13 with the
events module, the collector in the image the deploy builds (jitsi_deploy/collector/Dockerfile
on the debian:trixie-slim stand-in, tests/debian), Redis (the redis:8 stand-in, tests/redis)
and a PostgreSQL cluster of this machine (postgres.py).

Redis and the collector run as the deploy's compose file describes them: their command,
healthcheck, environment, privileges and mounts are read from the compose file rendered for
an example site with the history on, so a change there is what these tests run. They and
Prosody share a network of their own where, as in the stack, they find each other by service
name; only PostgreSQL is elsewhere (this machine's, on the default bridge's address), so the
collector is told where.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from jitsi_deploy.collector import COLLECTOR_DIR
from jitsi_deploy.model import paths
from jitsi_deploy.model.services import MEETING_EVENTS, MeetingEvents
from jitsi_deploy.render.templating import TEMPLATES_DIR, render_template
from tests.debian.image import ensure_image as ensure_debian
from tests.redis.image import ensure_image as ensure_redis
from tests.unit.sites import rendered, site_with

from . import server
from .policies import ACCOUNTS, SETUPS
from .postgres import Database

COLLECTOR_REPO = "jitsi-deploy-test/collector"
# Short, so the restart cases wait seconds for the heartbeat that rebuilds the live state.
HEARTBEAT = 2
EVENTS = replace(MEETING_EVENTS, heartbeat=HEARTBEAT)
WAIT = 30.0


def docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {done.stderr.decode()[-2000:]}")
    return done.stdout.decode().strip()


def collector_image() -> str:
    """The collector's image as the deploy builds it: its recipe on stdin, on the base."""
    base = ensure_debian()
    recipe = (COLLECTOR_DIR / "Dockerfile").read_bytes()
    digest = hashlib.sha256(recipe + docker("image", "inspect", "-f", "{{.Id}}", base).encode())
    tag = f"{COLLECTOR_REPO}:{digest.hexdigest()[:12]}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode:
        docker("build", "-q", "--build-arg", f"BASE={base}", "-t", tag, "-", stdin=recipe)
    return tag


def compose_services(folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The rendered compose file's services of an example core with the history on, and the
    secrets of its env file."""
    folder.mkdir(parents=True)
    deployment = site_with(folder, ENABLE_POSTGRES="1", ENABLE_MEETING_HISTORY="1")
    files = rendered(deployment, deployment.hosts[0].name)
    compose = yaml.safe_load(files.file(paths.COMPOSE_FILE).content)
    env = files.file(paths.COMPOSE_ENV).content.decode().splitlines()
    secrets = dict(line.split("=", 1) for line in env if "=" in line and not line.startswith("#"))
    return compose["services"], secrets


# What run_args applies of a compose entry, and the plumbing the tests set up their own way:
# the image and command, the name, the network, the code's mount (the same path and mode).
APPLIED = {"read_only", "cap_drop", "security_opt", "mem_limit", "environment", "healthcheck"}
PLUMBING = {"image", "container_name", "restart", "logging", "command", "depends_on", "networks",
            "volumes"}  # fmt: skip


def run_args(
    entry: dict[str, Any], secrets: dict[str, str], extra_env: dict[str, str]
) -> list[str]:
    """`docker run` options for what a compose entry asks of the container. Secrets go by
    name from this process's environment, as Compose passes them from its env file."""
    unknown = set(entry) - APPLIED - PLUMBING
    assert not unknown, f"the compose file asks for {unknown}, which these tests do not apply"
    args = ["--read-only"] if entry.get("read_only") else []
    args += [f"--cap-drop={cap}" for cap in entry.get("cap_drop", [])]
    args += [f"--security-opt={opt}" for opt in entry.get("security_opt", [])]
    args += [f"--memory={entry['mem_limit']}"]
    for name, value in {**entry["environment"], **extra_env}.items():
        if isinstance(value, str) and value == f"${{{name}}}":
            os.environ[name] = secrets[name]
            args += ["-e", name]
        else:
            args += ["-e", f"{name}={value}"]
    health = entry["healthcheck"]
    test = health["test"]
    command = test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])
    args += [f"--health-cmd={_unescape(command)}", "--health-interval=1s", "--health-retries=30"]
    return args


def _unescape(value: str) -> str:
    """Compose's `$$` is a `$` in the container."""
    return value.replace("$$", "$")


@dataclass
class History:
    """The running parts, by container name, their network, and the database the history
    lands in."""

    network: str
    redis: str
    collector: str
    prosody: server.Prosody
    database: Database
    start_collector: Callable[[], None]
    token: str  # what the collector takes events with

    def events_url(self) -> str:
        """Where the module posts, from this machine (the address changes with a restart)."""
        return f"http://{address(self.collector)}:8000/events"

    def post(self, body: bytes, token: str | None = None, url: str = "") -> int:
        """Posts ``body`` to the collector as the module does; the answer's status."""
        headers = {"Content-Type": "application/json"}
        headers["Authorization"] = f"Bearer {self.token if token is None else token}"
        request = urllib.request.Request(url or self.events_url(), body, headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def story(self) -> str:
        """What the parts said, for a failure's message: the collector's log, Prosody's lines
        about the events, and the addresses."""
        logs = subprocess.run(["docker", "logs", self.collector], capture_output=True, text=True)
        events = [line for line in self.prosody.log_text().splitlines() if "meeting" in line]
        return "\n".join([logs.stderr[-1500:], *events[-20:]])

    def collector_cli(self, *args: str) -> str:
        return docker("exec", self.collector, "python3", "-m", "collector", *args)

    def live(self) -> list[dict[str, str]]:
        """The live hashes in Redis, straight from redis-cli."""
        keys = self.redis_cli("--scan", "--pattern", "live:*").split()
        return [_pairs(self.redis_cli("hgetall", key)) for key in keys]

    def redis_cli(self, *args: str) -> str:
        with_password = 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli "$@"'
        return docker("exec", self.redis, "sh", "-c", with_password, "redis-cli", *args)

    def meetings(self) -> list[tuple[str, int, float]]:
        """The history's rows: room, peak, duration in seconds, oldest first."""
        rows = self.database.query(
            "SELECT room, peak, extract(epoch FROM ended - started) FROM history.meetings "
            "ORDER BY started;"
        )
        return [(r.split("|")[0], int(r.split("|")[1]), float(r.split("|")[2]))
                for r in rows.splitlines() if r]  # fmt: skip


def _pairs(text: str) -> dict[str, str]:
    items = text.splitlines()
    return dict(zip(items[::2], items[1::2], strict=True))


def address(container: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  container)  # fmt: skip


def wait_healthy(container: str) -> None:
    deadline = time.monotonic() + WAIT
    while (state := docker("inspect", "-f", "{{.State.Health.Status}}", container)) != "healthy":
        if time.monotonic() > deadline or state == "unhealthy":
            logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
            raise RuntimeError(
                f"{container} is {state}:\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
            )
        time.sleep(0.2)


def wait_for(
    what: str, probe: Callable[[], Any], wanted: Callable[[Any], bool], story: Callable[[], str]
) -> Any:
    """``probe()`` once ``wanted`` holds for it: the events travel asynchronously."""
    deadline = time.monotonic() + WAIT
    while not wanted(found := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {found!r} after {WAIT} s\n{story()}")
        time.sleep(0.1)
    return found


def start(folder: Path, database: Database, days: int = 365) -> History:
    """Redis, then the collector, then Prosody with the events module, on a network of their
    own."""
    services, secrets = compose_services(folder / "site")
    tag = f"{os.getpid()}-{folder.name}"
    network = f"jitsi-deploy-history-{tag}"
    docker("network", "create", network)
    redis = f"jitsi-deploy-redis-{tag}"
    entry = services["redis"]
    command = [_unescape(arg) for arg in entry["command"]]
    docker("run", "-d", "--name", redis, "--network", network, "--network-alias", "redis",
           *run_args(entry, secrets, {}), ensure_redis(), *command)  # fmt: skip
    wait_healthy(redis)

    collector = f"jitsi-deploy-collector-{tag}"
    image = collector_image()
    entry = services["collector"]
    where = {
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_DB": database.name,
        "POSTGRES_USER": database.name,
        "LIVE_TTL": str(EVENTS.ttl),
        "MEETING_HISTORY_DAYS": str(days),
    }
    secrets = {**secrets, "POSTGRES_PASSWORD": database.password}
    code = folder / "app"
    shutil.copytree(COLLECTOR_DIR, code / "collector", ignore=shutil.ignore_patterns("__pycache__"))

    def start_collector() -> None:
        subprocess.run(["docker", "rm", "-f", collector], capture_output=True)
        named = ["--name", collector, "--network", network, "--network-alias", "collector"]
        options = run_args(entry, secrets, where)
        docker("run", "-d", *named, *options, "-v", f"{code}:/app:ro", image)
        wait_healthy(collector)

    start_collector()
    prosody = start_prosody(folder / "prosody", EVENTS, network)
    token = secrets["COLLECTOR_TOKEN"]
    return History(network, redis, collector, prosody, database, start_collector, token)


def start_prosody(directory: Path, events: MeetingEvents, network: str) -> server.Prosody:
    (directory / "plugins").mkdir(parents=True)
    (directory / "conf.d").mkdir()
    shutil.copy(TEMPLATES_DIR / "prosody" / "mod_meeting_events.lua", directory / "plugins")
    settings = render_template("prosody/meeting-events.cfg.lua.j2", events=events)
    (directory / "conf.d" / "meeting-events.cfg.lua").write_text(settings)
    setup = replace(SETUPS["allow"], main_modules=("room_policy", "meeting_events"))
    server.ensure_prosody13_image()
    # The token as the compose file passes it, from the environment (run_args set it).
    image = server.Image(server.PROSODY13_IMAGE, ("COLLECTOR_TOKEN",), network)
    return server.start_container(directory, setup, ACCOUNTS, image)


def stop(history: History) -> None:
    server.stop(history.prosody)
    for container in (history.collector, history.redis):
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    subprocess.run(["docker", "network", "rm", history.network], capture_output=True)
