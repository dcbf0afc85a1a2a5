"""A real Uptime Kuma 2 image, built locally: debootstrap rootfs -> npm package -> cached tarball.

No image registry is reachable from the test machines, but the npm registry is, and it carries
``uptime-kuma@2.0.0-dev.0`` (a 2.0 development snapshot: server plus built UI). This module
builds it into an image with the upstream image's contract: port 3001, data in ``/app/data``, a
built-in HEALTHCHECK. Like the rig's test-host images, the result is cached as a tarball under
CACHE_DIR named by a hash of the recipe, so only the first build on a machine takes minutes.

    python -m tests.kuma.image      # build (cached) and tag TEST_TAG

Tests use TEST_TAG, never the real name ``louislam/uptime-kuma:2``: tests/standin imports
stand-ins under it, and other suites may be starting containers from it at any moment.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.rig.images import KEYRING, host_apt_sources, lock, render_sources

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_KUMA_CACHE", "/var/cache/jitsi-deploy/kuma"))
KUMA_VERSION = "2.0.0-dev.0"
SUITE = "trixie"  # Debian 13 packages Node.js 20, which this Kuma snapshot supports
TEST_TAG = f"jitsi-deploy/uptime-kuma:{KUMA_VERSION}"
RECIPE_LABEL = "jitsi-deploy-kuma.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PACKAGE_DIR = "/app/node_modules/uptime-kuma"
PORT = 3001

# The upstream image checks itself over HTTP; this one does the same with the node it runs on.
HEALTHCHECK_SCRIPT = """\
#!/usr/bin/node
// Healthy when Kuma answers its entry-page API on its own port.
const host = process.env.UPTIME_KUMA_HOST || "127.0.0.1";
const port = process.env.UPTIME_KUMA_PORT || "3001";
require("http")
    .get({ host, port, path: "/api/entry-page", timeout: 8000 }, (res) => {
        process.exit(res.statusCode === 200 ? 0 : 1);
    })
    .on("error", () => process.exit(1))
    .on("timeout", () => process.exit(1));
"""
HEALTHCHECK_PATH = "/usr/local/bin/uptime-kuma-healthcheck"


def ensure_image() -> str:
    """Return TEST_TAG, building or importing it only when its recipe label is not current."""
    recipe = recipe_id()
    with lock("kuma-image"):
        if _image_recipe(TEST_TAG) != recipe:
            tarball = ensure_rootfs(recipe)
            log.info("importing %s as %s", tarball, TEST_TAG)
            _run(["docker", "import", *_image_changes(recipe), str(tarball), TEST_TAG])
    return TEST_TAG


def recipe_id() -> str:
    """Identifies how the image is made: this module, the build script, the apt sources."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(BUILD_SCRIPT.read_bytes())
    digest.update(render_sources(host_apt_sources(), SUITE).encode())
    return digest.hexdigest()[:12]


def ensure_rootfs(recipe: str) -> Path:
    """Return the cached image tarball, building it (minutes) on a cache miss."""
    tarball = CACHE_DIR / f"uptime-kuma-{KUMA_VERSION}-{recipe}.tar"
    if tarball.exists():
        return tarball
    for stale in CACHE_DIR.glob("uptime-kuma-*.tar"):
        stale.unlink()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="build-") as tmp:
        base = Path(tmp) / "base.tar"
        _debootstrap(Path(tmp) / "rootfs", base)
        partial = Path(tmp) / "image.tar"
        _build_in_container(base, partial, recipe)
        # Rename last so that an interrupted build never leaves a tarball that looks complete.
        partial.rename(tarball)
    return tarball


def _debootstrap(root: Path, tarball: Path) -> None:
    """A minimal trixie rootfs with this machine's mirrors as its apt sources."""
    sources = render_sources(host_apt_sources(), SUITE)
    mirror = _first_uri(sources)
    log_path = CACHE_DIR / "debootstrap.log"
    log.info("debootstrap %s from %s (log: %s)", SUITE, mirror, log_path)
    argv = ["debootstrap", "--variant=minbase", f"--keyring={KEYRING}", SUITE, str(root), mirror]
    with log_path.open("w") as out:
        if subprocess.run(argv, stdout=out, stderr=out).returncode != 0:
            raise RuntimeError(f"debootstrap {SUITE} failed; see {log_path}")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."])


def _first_uri(sources: str) -> str:
    for line in sources.splitlines():
        if line.startswith("URIs: "):
            return line.split()[1]
    raise RuntimeError(f"no apt source of this machine carries {SUITE}")


def _build_in_container(base: Path, result: Path, recipe: str) -> None:
    """Run build-image.sh in a container of the base rootfs, then export its file system.

    A container (not a chroot) gives npm and the compiler a real /proc and /dev and needs no
    mounts on this machine to clean up after a failure.
    """
    name = f"jitsi-deploy-kuma-build-{recipe}-{os.getpid()}"
    base_tag = f"jitsi-deploy-kuma-build:{recipe}"
    _run(["docker", "import", str(base), base_tag])
    try:
        env = ["--env", f"KUMA_VERSION={KUMA_VERSION}", "--env", "BUILD_CA=/tmp/build-ca.crt"]
        _run(["docker", "create", "--name", name, *env, base_tag, "bash", "/tmp/build.sh"])
        _run(["docker", "cp", str(BUILD_SCRIPT), f"{name}:/tmp/build.sh"])
        _run(["docker", "cp", str(CA_BUNDLE), f"{name}:/tmp/build-ca.crt"])
        _install_healthcheck(name)
        log_path = CACHE_DIR / "build.log"
        log.info("installing uptime-kuma@%s in a container (log: %s)", KUMA_VERSION, log_path)
        with log_path.open("w") as out:
            built = subprocess.run(["docker", "start", "--attach", name], stdout=out, stderr=out)
        if built.returncode != 0:
            raise RuntimeError(f"building the Uptime Kuma image failed; see {log_path}")
        _run(["docker", "export", "--output", str(result), name])
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
        subprocess.run(["docker", "rmi", base_tag], capture_output=True)


def _install_healthcheck(container: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".js") as script:
        script.write(HEALTHCHECK_SCRIPT)
        script.flush()
        os.chmod(script.name, 0o755)
        _run(["docker", "cp", script.name, f"{container}:{HEALTHCHECK_PATH}"])


def _image_changes(recipe: str) -> list[str]:
    """The image configuration upstream's image has: port, data volume, health check."""
    changes = [
        "ENV DATA_DIR=/app/data/",
        "ENV UPTIME_KUMA_IS_CONTAINER=1",
        "ENV NODE_ENV=production",
        f"WORKDIR {PACKAGE_DIR}",
        f"EXPOSE {PORT}",
        'VOLUME ["/app/data"]',
        'CMD ["node", "server/server.js"]',
        "HEALTHCHECK --interval=20s --timeout=10s --start-period=30s --retries=3"
        f' CMD ["{HEALTHCHECK_PATH}"]',
        f"LABEL {RECIPE_LABEL}={recipe}",
    ]
    return [arg for change in changes for arg in ("--change", change)]


def _image_recipe(tag: str) -> str | None:
    template = f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}'
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", template, tag], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    tag = ensure_image()
    print(f"{tag} ready in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
