"""The example site the unit tests render: `.env.example` with a core and one bridge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jitsi_deploy.model.deployment import load_deployment
from jitsi_deploy.render.host import Rendered, render_host
from jitsi_deploy.settings.site import Deployment
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.facts import HostFacts
from jitsi_deploy.steps.images import IMAGES

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = REPO / ".env.example"
TWO_HOSTS = """\
[core]
meet.example.org address=203.0.113.10
[jvb]
jvb1.example.org address=203.0.113.11
"""


def two_hosts(folder: Path, env: Path = EXAMPLE_ENV) -> Deployment:
    """The site of ``env`` on a core and a bridge; its inventory and secrets live in ``folder``."""
    (folder / "hosts").write_text(TWO_HOSTS)
    return load_deployment(env, folder / "hosts", folder / ".secrets.env")


def site_with(folder: Path, **settings: str) -> Deployment:
    """The example site on a core and a bridge, with ``settings`` changed in its `.env`."""
    lines = [
        line
        for line in EXAMPLE_ENV.read_text().splitlines()
        if line.partition("=")[0] not in settings
    ]
    env = folder / ".env"
    env.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in settings.items())]) + "\n")
    return two_hosts(folder, env)


def rendered(deployment: Deployment, name: str) -> Rendered:
    return render_host(deployment, next(h for h in deployment.hosts if h.name == name))


def fab(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`fab ARGS` on the example site in ``folder`` (its hosts are never reached here)."""
    argv = [sys.executable, "-m", "fabric", "-r", str(REPO), *args]
    argv += ["--env", str(folder / ".env"), "--inventory", str(folder / "hosts")]
    return subprocess.run(
        argv, cwd=folder, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def handler_facts(
    running: dict[str, str],
    images: dict[str, int],
    pending: frozenset[str] = frozenset(),
    armed: bool = True,
    drained: bool = False,
    restored: bool = False,
) -> HostFacts:
    """The facts the handlers step plans from, as a host would give them."""
    return HostFacts(
        {
            handlers.PENDING.name: pending,
            handlers.RUNNING.name: running,
            handlers.ARMED.name: armed,
            handlers.DRAINED.name: drained,
            handlers.RESTORED.name: restored,
            IMAGES.name: images,
        }
    )
