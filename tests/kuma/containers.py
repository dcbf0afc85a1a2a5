"""A real Uptime Kuma and real targets for it, in containers on a private Docker network.

- Kuma: the image from tests/kuma/image.py, published on 127.0.0.1 only, on a free port (picked
  here, so it stays the same across a restart), started as the compose file starts it
  (UPTIME_KUMA_DB_TYPE=sqlite, data in /app/data), without the engine's socket.
- Prosody 13 (the version the Jitsi prosody image runs) with BOSH and websocket on plain HTTP:
  the real answers of /http-bind and /xmpp-websocket that the keyword monitors look for.

Test traffic stays on this machine: every name a monitor or notification may look up is either
a container of the network or pinned to the Kuma container's own loopback (its update check
included), and Kuma's other lookups go to a resolver on its own loopback, where none answers.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

PROSODY_IMAGE = os.environ.get("PROSODY13_IMAGE", "jitsi-deploy/prosody13:trixie")
PROSODY_ALIAS = "prosody"
# Names that must never leave the Kuma container: its update check and the test's fake alert
# channels and public names resolve to its own loopback.
PINNED_NAMES = ("uptime.kuma.pet", "hooks.kuma.test", "mail.kuma.test", "status.kuma.test")
READY_TIMEOUT = 90.0

PROSODY_CONFIG = """\
-- Prosody answering BOSH and websocket on plain HTTP, like the Jitsi image behind its web
-- container (which proxies /http-bind and /xmpp-websocket to it).
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
log = {{ info = "*console" }}
modules_enabled = {{ "bosh"; "websocket"; "ping" }}
modules_disabled = {{ "s2s" }}
c2s_ports = {{}}
http_ports = {{ 5280 }}
http_interfaces = {{ "*" }}
https_ports = {{}}
http_default_host = "meet.jitsi"
consider_bosh_secure = true
consider_websocket_secure = true

VirtualHost "meet.jitsi"
    authentication = "anonymous"
"""


@dataclass(frozen=True)
class Kuma:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart(self) -> None:
        docker("restart", "--time", "2", self.name)

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", "--tail", "60", self.name], capture_output=True)
        return (done.stdout + done.stderr).decode(errors="replace")


def create_network(name: str) -> None:
    docker("network", "create", name)


def remove_network(name: str) -> None:
    subprocess.run(["docker", "network", "rm", name], capture_output=True)


def start_kuma(image: str, name: str, network: str, wait: bool = True) -> Kuma:
    """Start Kuma as a fresh server (new data volume); ``wait`` until its HTTP side answers."""
    kuma = Kuma(name, free_port())
    pinned = [arg for host in PINNED_NAMES for arg in ("--add-host", f"{host}:127.0.0.1")]
    docker(
        "run", "--detach", "--name", name, "--network", network,
        "--publish", f"127.0.0.1:{kuma.port}:3001",
        "--env", "UPTIME_KUMA_DB_TYPE=sqlite", "--dns", "127.0.0.1",
        *pinned, image,
    )  # fmt: skip
    if wait:
        wait_until_ready(kuma)
    return kuma


def wait_until_ready(kuma: Kuma) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{kuma.url}/api/entry-page", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"Uptime Kuma {kuma.name} did not start:\n{kuma.logs()}")


def start_prosody(name: str, network: str, directory: Path) -> str:
    """Start Prosody 13 on ``network`` (alias ``prosody``); returns its base URL there."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    config = directory / "prosody.cfg.lua"
    config.write_text(PROSODY_CONFIG.format(dir=directory))
    docker(
        "run", "--detach", "--name", name, "--network", network,
        "--network-alias", PROSODY_ALIAS, "--volume", f"{directory}:{directory}",
        PROSODY_IMAGE, "prosody", "-F", "--config", str(config),
    )  # fmt: skip
    template = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    address = docker("inspect", "--format", template, name).strip()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{address}:5280/http-bind", timeout=2):
                return f"http://{PROSODY_ALIAS}:5280"
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"Prosody {name} did not start: {docker('logs', name)}")


def stopped_container(image: str, name: str) -> str:
    """A container that exists but does not run, as a crashed service's would."""
    docker("create", "--name", name, image, "true")
    return name


def remove(*names: str) -> None:
    """Remove containers with their anonymous volumes; missing ones are no error."""
    subprocess.run(["docker", "rm", "--force", "--volumes", *names], capture_output=True)


def container_state(name: str) -> str:
    return docker("inspect", "--format", "{{.State.Status}}", name).strip()


def docker(*argv: str) -> str:
    done = subprocess.run(["docker", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout
