"""The official ``redis:8`` image, built locally from Debian trixie's redis-server.

The deploy runs Redis as ``redis:8`` from Docker Hub, which the test machines cannot reach. This
module builds an image under exactly that name whose entry point (docker-entrypoint.sh beside it)
enforces the official image's contract wherever a compose file could get it wrong, each rule
traced to redis/docker-library-redis (the source of the official image since Redis 8);
tests/redis/test_contract.py breaks every rule once.

Debian's Redis is not upstream's build: its version is trixie's (8.0, where redis:8 follows the
newest 8.x), it has no modules, and its protected mode is on by default where the official
binary has it off, which the entry point makes up for. The image is for the contract a compose
file relies on, not for Redis's own features.

Its file system comes from the rig's rootfs builder (tests/rig/rootfs.py, as PostgreSQL's does):
build-image.sh in a container of debootstrapped trixie, cached under CACHE_DIR. The
configuration and the entry point go on top with ``docker build`` (Dockerfile beside this
module): an entry point edit then costs seconds instead of a new rootfs.

    python -m tests.redis.image      # build (cached) and tag redis:8
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.rig import rootfs

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_REDIS_CACHE", "/var/cache/jitsi-deploy/redis"))
SUITE = "trixie"  # the official redis:8 is built on debian:trixie-slim; trixie packages Redis 8
TAG = "redis:8"
RECIPE_LABEL = "jitsi-deploy-redis.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
DOCKERFILE = HERE / "Dockerfile"
ENTRYPOINT = HERE / "docker-entrypoint.sh"
# The file system: the redis user (uid 999), then Debian's packages at upstream's paths.
RECIPE = rootfs.Recipe("redis-8", CACHE_DIR, BUILD_SCRIPT, SUITE)
# The entry point is executable: setpriv's redis user must run it.
IMAGE = rootfs.LayeredImage(
    TAG, RECIPE, RECIPE_LABEL, Path(__file__), context=((DOCKERFILE, 0o644), (ENTRYPOINT, 0o755))
)


def ensure_image() -> str:
    """Return TAG, building it only when its recipe label is not current."""
    return rootfs.ensure_image(IMAGE)


if __name__ == "__main__":
    sys.exit(rootfs.build_main(ensure_image))
