"""A real Uptime Kuma 2 image, built locally: debootstrap rootfs -> npm package -> cached tarball.

No image registry is reachable from the test machines, but the npm registry is, and it carries
``uptime-kuma@2.0.0-dev.0`` (a 2.0 development snapshot: server plus built UI). This module
builds it into an image with the upstream image's contract: port 3001, data in ``/app/data``, a
built-in HEALTHCHECK. The rig's rootfs builder (tests/rig/rootfs.py) makes and caches its file
system under CACHE_DIR, so only the first build on a machine takes minutes.

    python -m tests.kuma.image      # build (cached) and tag TEST_TAG

Tests use TEST_TAG, never the real name ``louislam/uptime-kuma:2``: tests/standin imports
stand-ins under it, and other suites may be starting containers from it at any moment.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from tests.rig.images import host_apt_sources, lock, render_sources
from tests.rig.rootfs import Recipe, build_main, cached_tarball, label, run

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
    digest = recipe_id()
    with lock("kuma-image"):
        if label(TEST_TAG, RECIPE_LABEL) != digest:
            with tempfile.TemporaryDirectory(prefix="kuma-healthcheck-") as folder:
                tarball = cached_tarball(_recipe(Path(folder)), digest)
            log.info("importing %s as %s", tarball, TEST_TAG)
            run(["docker", "import", *_image_changes(digest), str(tarball), TEST_TAG])
    return TEST_TAG


def recipe_id() -> str:
    """Identifies how the image is made: this module, the build script, the apt sources."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(BUILD_SCRIPT.read_bytes())
    digest.update(render_sources(host_apt_sources(), SUITE).encode())
    return digest.hexdigest()[:12]


def _recipe(folder: Path) -> Recipe:
    """The build: npm with this machine's CA bundle (removed at its end), the health check."""
    healthcheck = folder / "healthcheck.js"
    healthcheck.write_text(HEALTHCHECK_SCRIPT)
    healthcheck.chmod(0o755)
    return Recipe(
        f"uptime-kuma-{KUMA_VERSION}",
        CACHE_DIR,
        BUILD_SCRIPT,
        SUITE,
        files=((CA_BUNDLE, "/tmp/build-ca.crt"), (healthcheck, HEALTHCHECK_PATH)),
        env=(f"KUMA_VERSION={KUMA_VERSION}", "BUILD_CA=/tmp/build-ca.crt"),
    )


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


if __name__ == "__main__":
    sys.exit(build_main(ensure_image))
