"""The official ``postgres:17`` image, built locally from Debian trixie's postgresql-17.

The deploy runs PostgreSQL as ``postgres:17`` from Docker Hub, which the test machines cannot
reach. This module builds an image under exactly that name whose entry point
(docker-entrypoint.sh beside it) enforces the official image's contract wherever a compose file
could get it wrong, each rule traced to docker-library/postgres; tests/postgres/test_contract.py
breaks every rule once.

Made as tests/kuma/image.py makes Kuma: debootstrap trixie from this machine's mirrors, a build
container runs build-image.sh (the postgres user, uid 999, then Debian's packages), and its file
system is cached as a tarball under CACHE_DIR named by a hash of that recipe. The configuration
and the entry point go on top with ``docker build`` (Dockerfile beside this module): an entry
point edit then costs seconds instead of a new rootfs.

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
import time
from pathlib import Path

from tests.kuma.image import _first_uri, _run
from tests.rig.images import KEYRING, host_apt_sources, lock, render_sources

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_POSTGRES_CACHE", "/var/cache/jitsi-deploy/postgres"))
SUITE = "trixie"  # its postgresql-17 is the major version the official postgres:17 runs
TAG = "postgres:17"
RECIPE_LABEL = "jitsi-deploy-postgres.recipe"
HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-image.sh"
DOCKERFILE = HERE / "Dockerfile"
ENTRYPOINT = HERE / "docker-entrypoint.sh"


def ensure_image() -> str:
    """Return TAG, building it only when its recipe label is not current."""
    rootfs = rootfs_recipe_id()
    recipe = recipe_id(rootfs)
    with lock("postgres-image"):
        if _image_label(TAG) != recipe:
            replaced = _image_id(TAG)
            _build_image(ensure_rootfs(rootfs), rootfs, recipe)
            _remove_replaced(replaced)
    return TAG


def rootfs_recipe_id() -> str:
    """Identifies how the rootfs is made: this module, the build script, the apt sources."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(BUILD_SCRIPT.read_bytes())
    digest.update(render_sources(host_apt_sources(), SUITE).encode())
    return digest.hexdigest()[:12]


def recipe_id(rootfs: str) -> str:
    """Identifies the image: its rootfs, the Dockerfile and the entry point."""
    digest = hashlib.sha256(rootfs.encode())
    digest.update(DOCKERFILE.read_bytes())
    digest.update(ENTRYPOINT.read_bytes())
    return digest.hexdigest()[:12]


def ensure_rootfs(recipe: str) -> Path:
    """Return the cached rootfs tarball, building it (minutes) on a cache miss."""
    tarball = CACHE_DIR / f"postgres-17-{recipe}.tar"
    if tarball.exists():
        return tarball
    for stale in CACHE_DIR.glob("postgres-17-*.tar"):
        stale.unlink()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="build-") as tmp:
        base = Path(tmp) / "base.tar"
        _debootstrap(Path(tmp) / "rootfs", base)
        partial = Path(tmp) / "rootfs.tar"
        _build_in_container(base, partial, recipe)
        # Rename last so that an interrupted build never leaves a tarball that looks complete.
        partial.rename(tarball)
    return tarball


def _debootstrap(root: Path, tarball: Path) -> None:
    """A minimal trixie rootfs with this machine's mirrors as its apt sources.

    tests/kuma/image.py has the same step, but it logs into Kuma's cache folder, where a Kuma build
    running beside this one (setup-machine.sh starts both) would write its own log.
    """
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


def _build_in_container(base: Path, result: Path, recipe: str) -> None:
    """Run build-image.sh in a container of the base rootfs, then export its file system.

    A container, not a chroot, as for Kuma: the packages' maintainer scripts get a real /proc and
    /dev, and nothing is mounted on this machine that a failure would leave behind.
    """
    name = f"jitsi-deploy-postgres-build-{recipe}-{os.getpid()}"
    base_tag = f"jitsi-deploy-postgres-build:{recipe}"
    _run(["docker", "import", str(base), base_tag])
    try:
        _run(["docker", "create", "--name", name, base_tag, "bash", "/tmp/build.sh"])
        _run(["docker", "cp", str(BUILD_SCRIPT), f"{name}:/tmp/build.sh"])
        log_path = CACHE_DIR / "build.log"
        log.info("installing postgresql-17 in a container (log: %s)", log_path)
        with log_path.open("w") as out:
            built = subprocess.run(["docker", "start", "--attach", name], stdout=out, stderr=out)
        if built.returncode != 0:
            raise RuntimeError(f"building the PostgreSQL image failed; see {log_path}")
        _run(["docker", "export", "--output", str(result), name])
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
        subprocess.run(["docker", "rmi", base_tag], capture_output=True)


def _build_image(tarball: Path, rootfs: str, recipe: str) -> None:
    """Import the rootfs, then add the configuration and the entry point (the Dockerfile)."""
    rootfs_tag = f"jitsi-deploy-postgres-rootfs:{rootfs}"
    log.info("importing %s and building %s", tarball, TAG)
    _run(["docker", "import", str(tarball), rootfs_tag])
    try:
        with tempfile.TemporaryDirectory(prefix="postgres-image-") as context:
            # COPY keeps the mode the checkout gave the file; gosu's postgres user must run it.
            entrypoint = Path(context) / ENTRYPOINT.name
            shutil.copyfile(ENTRYPOINT, entrypoint)
            entrypoint.chmod(0o755)
            shutil.copyfile(DOCKERFILE, Path(context) / "Dockerfile")
            build = ["docker", "build", "--quiet", "--build-arg", f"ROOTFS={rootfs_tag}"]
            _run([*build, "--label", f"{RECIPE_LABEL}={recipe}", "--tag", TAG, context])
    finally:
        # Only the tag goes: the image's layers stay as the parent of TAG.
        subprocess.run(["docker", "rmi", rootfs_tag], capture_output=True)


def _remove_replaced(image: str | None) -> None:
    """The build TAG named before would stay behind untagged, half a gigabyte per recipe change.
    The engine refuses to remove one a container still uses: that one stays."""
    if image and image != _image_id(TAG):
        subprocess.run(["docker", "rmi", image], capture_output=True)


def _image_label(tag: str) -> str | None:
    return _inspect(tag, f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}')


def _image_id(tag: str) -> str | None:
    return _inspect(tag, "{{.Id}}")


def _inspect(tag: str, template: str) -> str | None:
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", template, tag], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    tag = ensure_image()
    print(f"{tag} ready in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
