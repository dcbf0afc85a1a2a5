"""Running the stand-in images in tests: one container with `docker run`, configured the way the
upstream compose file configures the real image (CORRECT), or with one thing changed.

Images are built under local names (build.local_names): other test sessions on the same engine
may build older stand-ins under the real names at the same time.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from jitsi_deploy.render.templating import TEMPLATES_DIR, render_template
from jitsi_deploy.settings.rooms import RoomPolicy

HERE = Path(__file__).resolve().parent
RUN_TMPFS = "/run:size=16M,mode=1750,exec"
TMP_TMPFS = "/tmp:size=16M,mode=1777,noexec"
PASSWORDS = {"JICOFO_AUTH_PASSWORD": "focus-secret", "JVB_AUTH_PASSWORD": "jvb-secret"}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def owned_dir(path: Path, uid: int = 1000, mode: int = 0o755) -> Path:
    """A host folder for a volume, owned by `uid` (the images' user is 1000)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path


def ship_room_policy(config: Path, plugins: Path, policy: RoomPolicy) -> None:
    """The project's room policy as a deploy ships it to prosody: the module file in the
    prosody-plugins-custom folder, its settings rendered into the config folder's conf.d."""
    module = (TEMPLATES_DIR / "prosody" / "mod_room_policy.lua").read_text()
    (plugins / "mod_room_policy.lua").write_text(module)
    settings = render_template("prosody/room-policy.cfg.lua.j2", site=SimpleNamespace(rooms=policy))
    (owned_dir(config / "conf.d") / "room-policy.cfg.lua").write_text(settings)


@dataclass
class Options:
    """`docker run` options, read like a compose service: tmpfs, read_only, volumes, env..."""

    tmpfs: list[str] = field(default_factory=lambda: [RUN_TMPFS, TMP_TMPFS])
    read_only: bool = True
    volumes: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        argv = ["--read-only"] if self.read_only else []
        argv += [arg for t in self.tmpfs for arg in ("--tmpfs", t)]
        argv += [arg for v in self.volumes for arg in ("-v", v)]
        argv += [arg for k, v in self.env.items() for arg in ("-e", f"{k}={v}")]
        if self.network:
            argv += ["--network", self.network]
        argv += [arg for a in self.aliases for arg in ("--network-alias", a)]
        argv += [arg for p in self.publish for arg in ("-p", p)]
        return argv + self.extra


@dataclass
class Container:
    name: str

    def state(self) -> dict:
        return json.loads(docker("inspect", "-f", "{{json .State}}", self.name).stdout)

    def logs(self) -> str:
        done = docker("logs", self.name, check=False)
        return done.stdout + done.stderr

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *cmd, check=False)

    def address(self) -> str:
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return docker("inspect", "-f", template, self.name).stdout.strip()

    def host_port(self, port: str) -> int:
        return int(docker("port", self.name, port).stdout.split(":")[-1])

    def wait_exit(self, timeout: float = 30.0) -> int:
        """The exit code once the container stopped (it must stop within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if not state["Running"]:
                return state["ExitCode"]
            time.sleep(0.2)
        raise AssertionError(f"{self.name} still runs after {timeout} s:\n{self.logs()}")

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.state()["Running"]:
                raise AssertionError(f"{self.name} stopped, no {what}:\n{self.logs()}")
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: no {what} within {timeout} s:\n{self.logs()}")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """The image's own health check passes (web has none: its front page answers)."""

        def healthy() -> bool:
            if self.exec("test", "-x", "/usr/local/bin/healthcheck.sh").returncode == 0:
                return self.exec("/usr/local/bin/healthcheck.sh").returncode == 0
            front_page = self.exec("curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/")
            return front_page.returncode == 0

        self.wait_for(healthy, "passing health check", timeout)


@contextmanager
def running(image: str, options: Options) -> Iterator[Container]:
    name = f"standin-test-{uuid.uuid4().hex[:10]}"
    docker("run", "-d", "--name", name, *options.argv(), image)
    try:
        yield Container(name)
    finally:
        docker("rm", "-f", "-v", name, check=False)


@contextmanager
def network() -> Iterator[str]:
    name = f"standin-test-{uuid.uuid4().hex[:10]}"
    docker("network", "create", name)
    try:
        yield name
    finally:
        docker("network", "rm", name, check=False)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
