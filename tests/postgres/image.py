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

import os
import sys
from pathlib import Path

from tests.rig import rootfs

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_POSTGRES_CACHE", "/var/cache/jitsi-deploy/postgres"))
SUITE = "trixie"  # its postgresql-17 is the major version the official postgres:17 runs
TAG = "postgres:17"
RECIPE_LABEL = "jitsi-deploy-postgres.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
DOCKERFILE = HERE / "Dockerfile"
ENTRYPOINT = HERE / "docker-entrypoint.sh"
# The file system: the postgres user (uid 999), then Debian's packages.
RECIPE = rootfs.Recipe("postgres-17", CACHE_DIR, BUILD_SCRIPT, SUITE)
# The entry point is executable: gosu's postgres user must run it.
IMAGE = rootfs.LayeredImage(
    TAG, RECIPE, RECIPE_LABEL, Path(__file__), context=((DOCKERFILE, 0o644), (ENTRYPOINT, 0o755))
)


def ensure_image() -> str:
    """Return TAG, building it only when its recipe label is not current."""
    return rootfs.ensure_image(IMAGE)


if __name__ == "__main__":
    sys.exit(rootfs.build_main(ensure_image))
