"""The official ``postgres:17`` image, built locally from Debian trixie's postgresql-17.

The deploy runs PostgreSQL as ``postgres:17`` from Docker Hub, which the test machines cannot
reach. This module builds an image under exactly that name whose entry point
(docker-entrypoint.sh beside it) enforces the official image's contract wherever a compose file
could get it wrong, each rule traced to docker-library/postgres; tests/postgres/test_contract.py
breaks every rule once.

Its file system comes from the rig's rootfs builder (tests/rig/rootfs.py, as Kuma's does):
build-image.sh in a container of debootstrapped trixie, cached under CACHE_DIR. The
configuration and the entry point go on top with ``docker build`` (Dockerfile beside this
module): an entry point edit then costs seconds instead of a new rootfs.

    python -m tests.postgres.image      # build (cached) and tag postgres:17
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.rig.images import lock
from tests.rig.rootfs import Recipe, build_main, cached_tarball, inspect, label, run

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_POSTGRES_CACHE", "/var/cache/jitsi-deploy/postgres"))
SUITE = "trixie"  # its postgresql-17 is the major version the official postgres:17 runs
TAG = "postgres:17"
RECIPE_LABEL = "jitsi-deploy-postgres.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
DOCKERFILE = HERE / "Dockerfile"
ENTRYPOINT = HERE / "docker-entrypoint.sh"
# The file system: the postgres user (uid 999), then Debian's packages.
RECIPE = Recipe("postgres-17", CACHE_DIR, BUILD_SCRIPT, SUITE)


def ensure_image() -> str:
    """Return TAG, building it only when its recipe label is not current."""
    rootfs = rootfs_recipe_id()
    digest = recipe_id(rootfs)
    with lock("postgres-image"):
        if label(TAG, RECIPE_LABEL) != digest:
            replaced = inspect(TAG, "{{.Id}}")
            _build_image(cached_tarball(RECIPE, rootfs), rootfs, digest)
            _remove_replaced(replaced)
    return TAG


def rootfs_recipe_id() -> str:
    """Identifies how the rootfs is made: this module, the build script, the apt sources."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(BUILD_SCRIPT.read_bytes())
    digest.update(RECIPE.sources.encode())
    return digest.hexdigest()[:12]


def recipe_id(rootfs: str) -> str:
    """Identifies the image: its rootfs, the Dockerfile and the entry point."""
    digest = hashlib.sha256(rootfs.encode())
    digest.update(DOCKERFILE.read_bytes())
    digest.update(ENTRYPOINT.read_bytes())
    return digest.hexdigest()[:12]


def _build_image(tarball: Path, rootfs: str, recipe: str) -> None:
    """Import the rootfs, then add the configuration and the entry point (the Dockerfile)."""
    rootfs_tag = f"jitsi-deploy-postgres-rootfs:{rootfs}"
    log.info("importing %s and building %s", tarball, TAG)
    run(["docker", "import", str(tarball), rootfs_tag])
    try:
        with tempfile.TemporaryDirectory(prefix="postgres-image-") as context:
            # COPY keeps the mode the checkout gave the file; gosu's postgres user must run it.
            entrypoint = Path(context) / ENTRYPOINT.name
            shutil.copyfile(ENTRYPOINT, entrypoint)
            entrypoint.chmod(0o755)
            shutil.copyfile(DOCKERFILE, Path(context) / "Dockerfile")
            build = ["docker", "build", "--quiet", "--build-arg", f"ROOTFS={rootfs_tag}"]
            run([*build, "--label", f"{RECIPE_LABEL}={recipe}", "--tag", TAG, context])
    finally:
        # Only the tag goes: the image's layers stay as the parent of TAG.
        subprocess.run(["docker", "rmi", rootfs_tag], capture_output=True)


def _remove_replaced(image: str | None) -> None:
    """The build TAG named before would stay behind untagged, half a gigabyte per recipe change.
    The engine refuses to remove one a container still uses: that one stays."""
    if image and image != inspect(TAG, "{{.Id}}"):
        subprocess.run(["docker", "rmi", image], capture_output=True)


if __name__ == "__main__":
    sys.exit(build_main(ensure_image))
