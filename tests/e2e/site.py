"""A site to deploy to rig hosts: settings, inventory and known_hosts in a folder, the image
bundle every site shares, and `fab` run on it the way a person runs it."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jitsi_deploy.bundle import save_bundle
from tests.debian.image import ensure_image as ensure_debian_image
from tests.kuma.image import TEST_TAG as KUMA_IMAGE
from tests.kuma.image import ensure_image as ensure_kuma_image
from tests.postgres.image import ensure_image as ensure_postgres_image
from tests.redis.image import ensure_image as ensure_redis_image
from tests.rig.hosts import TestHost, host_exec
from tests.standin.build import build_standins, image_names

REPO = Path(__file__).resolve().parents[2]

# What differs from the example on test hosts: no registry (images come as a bundle), Docker
# from the distribution (Docker's repository is out of reach), no DNS for Let's Encrypt, and
# the real Uptime Kuma 2 built from npm (tests/kuma/image.py), provisioned by the deploy, and
# Docker's health probes every 5 s instead of 30 (the product's own setting): a waited-for
# container counts as healthy seconds after it starts.
TEST_SETTINGS = {
    "UPTIME_KUMA_IMAGE": KUMA_IMAGE,
    "DOCKER_SOURCE": "distro",
    "IMAGE_SOURCE": "bundle",
    "TLS_MODE": "selfsigned",
    "HEALTH_FAILURES_BEFORE_ACTION": "1",
    "CONTAINER_HEALTH_INTERVAL": "5",
}


@dataclass
class Site:
    folder: Path
    hosts: list[TestHost]
    # Inventory keys beyond the SSH ones, per host name, kept by every write.
    host_values: dict[str, str] = field(default_factory=dict)
    # Settings of this site beyond TEST_SETTINGS, kept by every write.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> Path:
        return self.folder / ".env"

    def write(self, settings: dict[str, str] | None = None, extra_lines: str = "") -> None:
        example = (REPO / ".env.example").read_text().splitlines()
        wanted = {**TEST_SETTINGS, **self.settings, **(settings or {})}
        lines = [line for line in example if line.partition("=")[0] not in wanted]
        self.env.write_text("\n".join(lines + [f"{k}={v}" for k, v in wanted.items()]) + "\n")
        # The first host is the core, any others its extra video bridges.
        core, *bridges = self.hosts
        lines = {
            h.name: " ".join(filter(None, (_line(h), self.host_values.get(h.name))))
            for h in self.hosts
        }
        inventory = ["[core]", lines[core.name]] + (
            ["[jvb]"] + [lines[h.name] for h in bridges] if bridges else []
        )
        (self.folder / "hosts").write_text("\n".join(inventory) + "\n" + extra_lines)

    def trust(self, *hosts: TestHost) -> None:
        lines = "".join(h.known_hosts_line() + "\n" for h in hosts or self.hosts)
        (self.folder / "known_hosts").write_text(lines)

    def fab(self, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.fab_argv(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def fab_argv(self, *args: str) -> list[str]:
        """`fab ARGS` on this site, run from the repository."""
        argv = [
            sys.executable,
            "-m",
            "fabric",
            *args,
            "--env",
            str(self.env),
            "--inventory",
            str(self.folder / "hosts"),
            "--known-hosts",
            str(self.folder / "known_hosts"),
        ]
        if "deploy" in args:
            argv += ["--bundle", str(bundle())]
            # No DNS names the test site: its smoke runs apart, with --resolve to the core.
            argv += ["--no-smoke"]
        return argv


def _line(host: TestHost) -> str:
    return f"{host.name} address={host.address} user={host.user} key={host.key_path}"


@functools.cache
def bundle() -> Path:
    """The stand-ins' offline bundle, saved once per test process for every site (a save
    writes some 2 GB), and removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="jitsi-deploy-bundle-"))
    atexit.register(shutil.rmtree, folder, True)
    standins = build_standins(image_names())
    jitsi = [image for name, image in standins.items() if name != "uptime-kuma"]
    # The official images the deploy names, as their local stand-ins: postgres:17, redis:8, and
    # debian:trixie-slim, the base the host builds the collector's image on.
    official = [ensure_postgres_image(), ensure_redis_image(), ensure_debian_image()]
    return save_bundle([*jitsi, ensure_kuma_image(), *official], folder / "images")


def host_state(host: TestHost, paths: list[str]) -> str:
    """What a deploy could change: managed files (content, mode, owner, time), containers,
    firewall, services. Equal before and after means nothing was touched."""
    script = (
        f"for f in {' '.join(paths)}; do [ -e $f ] && stat -c '%n %a %U %G %Y' $f "
        "&& sha256sum $f 2>/dev/null; done; "
        "docker ps -aq | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}'; "
        "ufw status verbose; systemctl is-active nginx docker cron"
    )
    return host_exec(host, "sh", "-c", script).stdout
