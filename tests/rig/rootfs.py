"""Images the rig makes from Debian itself, where no registry is reachable: a minimal rootfs by
debootstrap from this machine's mirrors, a build script run in a container of it, and the
container's file system cached as a tarball named by its recipe, so only the first build on a
machine takes minutes (tests/kuma: Uptime Kuma from npm; tests/postgres: PostgreSQL 17;
tests/redis: Redis 8; tests/debian: the slim Debian image).

A LayeredImage is such a tarball made into a tagged image, with a ``docker build`` on top where
the image needs files or instructions an import cannot give it; ``ensure_image`` makes it only
when its recipe label is not current, so an unchanged recipe costs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.rig.images import KEYRING, host_apt_sources, lock, render_sources

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """One image's build: ``name`` names its files in ``cache``; ``script`` runs with bash in
    the container, after ``files`` (this machine's path, the container's) are copied in."""

    name: str
    cache: Path
    script: Path
    suite: str = "trixie"
    files: tuple[tuple[Path, str], ...] = ()
    env: tuple[str, ...] = ()

    @property
    def sources(self) -> str:
        """The image's apt sources: this machine's mirrors, for the recipe's suite."""
        return render_sources(host_apt_sources(), self.suite)


def cached_tarball(recipe: Recipe, digest: str) -> Path:
    """The file system the recipe builds, from the cache or built now (minutes)."""
    tarball = recipe.cache / f"{recipe.name}-{digest}.tar"
    if tarball.exists():
        return tarball
    for stale in recipe.cache.glob(f"{recipe.name}-*.tar"):
        stale.unlink()
    recipe.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=recipe.cache, prefix="build-") as tmp:
        base = Path(tmp) / "base.tar"
        _debootstrap(recipe, Path(tmp) / "rootfs", base)
        partial = Path(tmp) / "image.tar"
        _build_in_container(recipe, digest, base, partial)
        # Renamed last, so an interrupted build never leaves a tarball that looks complete.
        partial.rename(tarball)
    return tarball


def _debootstrap(recipe: Recipe, root: Path, tarball: Path) -> None:
    """A minimal rootfs of the suite with this machine's mirrors as its apt sources."""
    mirror = _first_uri(recipe.sources, recipe.suite)
    log_path = recipe.cache / "debootstrap.log"
    log.info("debootstrap %s from %s (log: %s)", recipe.suite, mirror, log_path)
    argv = ["debootstrap", "--variant=minbase", f"--keyring={KEYRING}", recipe.suite, str(root)]
    with log_path.open("w") as out:
        if subprocess.run([*argv, mirror], stdout=out, stderr=out).returncode != 0:
            raise RuntimeError(f"debootstrap {recipe.suite} failed; see {log_path}")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(recipe.sources)
    run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."])


def _first_uri(sources: str, suite: str) -> str:
    for line in sources.splitlines():
        if line.startswith("URIs: "):
            return line.split()[1]
    raise RuntimeError(f"no apt source of this machine carries {suite}")


def _build_in_container(recipe: Recipe, digest: str, base: Path, result: Path) -> None:
    """Run the script in a container of the base rootfs, then export its file system.

    A container, not a chroot: package scripts, npm and compilers get a real /proc and /dev,
    and a failure leaves no mount behind on this machine.
    """
    name = f"jitsi-deploy-{recipe.name}-build-{digest}-{os.getpid()}"
    base_tag = f"jitsi-deploy-{recipe.name}-build:{digest}"
    run(["docker", "import", str(base), base_tag])
    try:
        env = [arg for variable in recipe.env for arg in ("--env", variable)]
        run(["docker", "create", "--name", name, *env, base_tag, "bash", "/tmp/build.sh"])
        for local, inside in ((recipe.script, "/tmp/build.sh"), *recipe.files):
            run(["docker", "cp", str(local), f"{name}:{inside}"])
        log_path = recipe.cache / "build.log"
        log.info("building %s in a container (log: %s)", recipe.name, log_path)
        with log_path.open("w") as out:
            built = subprocess.run(["docker", "start", "--attach", name], stdout=out, stderr=out)
        if built.returncode != 0:
            raise RuntimeError(f"building the {recipe.name} image failed; see {log_path}")
        run(["docker", "export", "--output", str(result), name])
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
        subprocess.run(["docker", "rmi", base_tag], capture_output=True)


@dataclass(frozen=True)
class LayeredImage:
    """The image ``tag``: ``recipe``'s rootfs imported with ``changes``, then, where there is a
    ``context``, a ``docker build`` of it on top (the Dockerfile's ``FROM ${ROOTFS}``).

    ``module`` is the module that describes the image: its source is part of the rootfs's
    recipe, as the build script and the apt sources are. ``context`` is each file the build
    reads, the Dockerfile among them, with the mode it needs in the image: COPY keeps the mode a
    file has in the context, which is whatever the checkout gave it. ``label`` carries the
    recipe on the image, how a later run knows it current.
    """

    tag: str
    recipe: Recipe
    label: str
    module: Path
    context: tuple[tuple[Path, int], ...] = ()
    changes: tuple[str, ...] = ()


def ensure_image(image: LayeredImage) -> str:
    """Return the image's tag, making the image only when its recipe label is not current."""
    rootfs = rootfs_recipe_id(image)
    recipe = image_recipe_id(image, rootfs)
    with lock(f"{image.recipe.name}-image"):
        if label(image.tag, image.label) != recipe:
            replaced = inspect(image.tag, "{{.Id}}")
            tarball = cached_tarball(image.recipe, rootfs)
            if image.context:
                _build_on(image, tarball, rootfs, recipe)
            else:
                log.info("importing %s as %s", tarball, image.tag)
                _import(tarball, image.tag, (*image.changes, f"LABEL {image.label}={recipe}"))
            _remove_replaced(image.tag, replaced)
    return image.tag


def rootfs_recipe_id(image: LayeredImage) -> str:
    """Identifies how the rootfs is made: the image's module, the build script, the apt sources."""
    digest = hashlib.sha256(image.module.read_bytes())
    digest.update(image.recipe.script.read_bytes())
    digest.update(image.recipe.sources.encode())
    return digest.hexdigest()[:12]


def image_recipe_id(image: LayeredImage, rootfs: str) -> str:
    """Identifies the image: its rootfs and the files built on top of it."""
    digest = hashlib.sha256(rootfs.encode())
    for path, _mode in image.context:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _build_on(image: LayeredImage, tarball: Path, rootfs: str, recipe: str) -> None:
    """Import the rootfs under a passing tag, then build the context on top of it."""
    rootfs_tag = f"jitsi-deploy-{image.recipe.name}-rootfs:{rootfs}"
    log.info("importing %s and building %s", tarball, image.tag)
    _import(tarball, rootfs_tag, image.changes)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{image.recipe.name}-image-") as context:
            _fill_context(Path(context), image.context)
            build = ["docker", "build", "--quiet", "--build-arg", f"ROOTFS={rootfs_tag}"]
            run([*build, "--label", f"{image.label}={recipe}", "--tag", image.tag, context])
    finally:
        # Only the tag goes: the rootfs's layer stays as the parent of the image.
        subprocess.run(["docker", "rmi", rootfs_tag], capture_output=True)


def _fill_context(folder: Path, files: tuple[tuple[Path, int], ...]) -> None:
    for path, mode in files:
        copy = folder / path.name
        shutil.copyfile(path, copy)
        copy.chmod(mode)


def _import(tarball: Path, tag: str, changes: tuple[str, ...]) -> None:
    run(["docker", "import", *(arg for c in changes for arg in ("--change", c)), str(tarball), tag])


def _remove_replaced(tag: str, image: str | None) -> None:
    """The image the tag named before would stay behind untagged, 100 MB to half a gigabyte a
    recipe change. The engine refuses to remove one a container still uses: that one stays."""
    if image and image != inspect(tag, "{{.Id}}"):
        subprocess.run(["docker", "rmi", image], capture_output=True)


def inspect(tag: str, template: str) -> str | None:
    """``docker image inspect --format template``, None where there is no such image."""
    done = subprocess.run(
        ["docker", "image", "inspect", "--format", template, tag], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def label(tag: str, name: str) -> str | None:
    return inspect(tag, f'{{{{index .Config.Labels "{name}"}}}}')


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


def build_main(ensure_image: Callable[[], str]) -> int:
    """`python -m tests.<image>.image`: build it (or find it current) and say how long it took."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    tag = ensure_image()
    print(f"{tag} ready in {time.monotonic() - started:.1f}s")
    return 0
