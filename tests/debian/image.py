"""The official ``debian:trixie-slim`` image, built locally from this machine's Debian mirrors.

The deploy builds the collector's image on the host ``FROM debian:trixie-slim`` (Docker Hub),
which the test machines cannot reach. This module makes an image under exactly that name the way
docker-library/debian makes it with debuerreotype: a minbase debootstrap, the container-minded
apt and dpkg configuration, the "slim" filters (no documentation, manuals or translations), no
package lists, ``CMD ["bash"]`` (build-image.sh beside this module cites each step). Its apt
sources are this machine's mirrors (tests/rig/rootfs.py's Recipe.sources), so a derived image's
``apt-get update && apt-get install`` works where the official image's deb.debian.org would not.

The file system comes from the rig's rootfs builder, cached under CACHE_DIR; the image is that
tarball imported with the official image's configuration, so a rebuild after a recipe change is
a minute and an unchanged recipe costs nothing.

    python -m tests.debian.image      # build (cached) and tag debian:trixie-slim
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.rig import rootfs

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_DEBIAN_CACHE", "/var/cache/jitsi-deploy/debian"))
SUITE = "trixie"
TAG = "debian:trixie-slim"
RECIPE_LABEL = "jitsi-deploy-debian.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
RECIPE = rootfs.Recipe("debian-trixie-slim", CACHE_DIR, BUILD_SCRIPT, SUITE)
# The official image's configuration (docker-library/repo-info, repos/debian/remote/
# trixie-slim.md: one layer and `CMD ["bash"]`), with the PATH its Dockerfile build gives it; an
# imported rootfs has none.
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)
IMAGE = rootfs.LayeredImage(TAG, RECIPE, RECIPE_LABEL, Path(__file__), changes=CHANGES)


def ensure_image() -> str:
    """Return TAG, importing it only when its recipe label is not current."""
    return rootfs.ensure_image(IMAGE)


if __name__ == "__main__":
    sys.exit(rootfs.build_main(ensure_image))
