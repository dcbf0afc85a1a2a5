"""Container images and services: what a host's role runs, loading images without a registry,
and building the images the deploy derives.

Hosts that can pull get their images when Compose starts the stack. Hosts that cannot reach a
registry get the images they lack from an offline bundle (see bundle.py), pushed over SSH and
loaded; images a host already has are not sent, so a re-deploy sends nothing.

A derived image (model/services.py, Derivation) is built on the host from the service's own
image and a recipe (a Dockerfile). Its labels name the build of that image it was made from
and the recipe's digest: it is built again when either differs, so a new build of the same
release (`fab update`) or a new recipe reaches it, and otherwise never.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from ..bundle import archive_name
from ..errors import DeployError
from ..model.services import Derivation
from ..remote.commands import Command
from ..render.host import Rendered
from ..settings.inventory import Host
from .changes import Change, Upload
from .facts import Fact, fixed
from .step import PlanInput, Step

NAME = "images"
# Docker prints sizes as go-units' HumanSize does: decimal units, three significant digits.
UNITS = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_images(lines: list[str]) -> dict[str, int]:
    """The host's images with their sizes in bytes (disk_space.py estimates pulls by them)."""
    images = {}
    for line in lines:
        image, _, shown = line.rpartition(" ")
        number = shown.rstrip("kMGTB")
        images[image] = round(float(number) * UNITS.get(shown[len(number) :], 1))
    return images


IMAGES = Fact(
    "images",
    fixed("docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' 2>/dev/null"),
    parse_images,
)


def repository(image: str) -> str:
    """ghcr.io/jitsi/jvb:stable-1 -> ghcr.io/jitsi/jvb (a port in the registry stays)."""
    name, colon, tag = image.rpartition(":")
    return name if colon and "/" not in tag else image


BASE_LABEL = "org.jitsi-deploy.base"
RECIPE_LABEL = "org.jitsi-deploy.recipe"


def wanted_images(rendered: Rendered) -> tuple[str, ...]:
    """The image each service's container runs, derived ones included."""
    return tuple(service.running_image(rendered.site) for service in rendered.services)


def fetched_images(rendered: Rendered) -> tuple[str, ...]:
    """The images a registry or the bundle provides: for a derived one, its base."""
    images = rendered.site.images
    return tuple(dict.fromkeys(service.image(images) for service in rendered.services))


def derivations(rendered: Rendered) -> dict[str, Derivation]:
    """The derived images the host's services run, by base image."""
    site = rendered.site
    found = ((s.image(site.images), s.derived(site)) for s in rendered.services)
    return {base: derivation for base, derivation in found if derivation}


# built IMAGE BASE: the derived image, the base build and recipe digest its labels name (empty
# when it is missing), and the ID of its base (empty when missing).
LABELS = " ".join(f'{{{{index .Config.Labels "{label}"}}}}' for label in (BASE_LABEL, RECIPE_LABEL))
BUILT = (
    f'built() {{ echo "$1 $(docker image inspect -f \'{LABELS}\' "$1" 2>/dev/null) '
    '$(docker image inspect -f \'{{.Id}}\' "$2" 2>/dev/null)"; }'
)


def _builds_command(rendered: Rendered) -> str:
    calls = [f"built {shlex.quote(d.image)} {shlex.quote(base)}" for base, d in
             derivations(rendered).items()]  # fmt: skip
    return "; ".join((BUILT, *calls)) if calls else "true"


def parse_builds(lines: list[str]) -> dict[str, tuple[str, str, str]]:
    """Derived image -> (the base build it was made from, its recipe digest, the base's ID)."""
    found = {}
    for line in lines:
        image, *fields = line.split(" ")
        made_from, recipe, base = [*fields, "", "", ""][:3]
        found[image] = (made_from, recipe, base)
    return found


BUILDS = Fact("derived-images", _builds_command, parse_builds)


def recipe_digest(derivation: Derivation) -> str:
    return hashlib.sha256(_recipe(derivation)).hexdigest()[:16]


def _recipe(derivation: Derivation) -> bytes:
    return derivation.recipe.read_bytes()


def image_changes(rendered: Rendered, present: dict[str, int], bundle: Path | None) -> list[Change]:
    """Load the images the host lacks from the bundle, when the host uses one."""
    missing = [image for image in fetched_images(rendered) if image not in present]
    if rendered.site.images.source != "bundle" or not missing:
        return []
    if bundle is None:
        raise _bundle_lacks(rendered.host, missing)
    archives = {image: bundle / archive_name(image) for image in missing}
    absent = [image for image, archive in archives.items() if not archive.is_file()]
    if absent:
        raise _bundle_lacks(rendered.host, absent)
    return [load_change(image, archive) for image, archive in archives.items()]


def build_changes(rendered: Rendered, built: dict[str, tuple[str, str, str]]) -> list[Change]:
    """Build each derived image that is missing, or made from another base build or recipe."""
    changes = []
    for base, derivation in derivations(rendered).items():
        made_from, recipe, base_id = built.get(derivation.image, ("", "", ""))
        if base_id and made_from == base_id and recipe == recipe_digest(derivation):
            continue
        changes.append(build_change(base, derivation))
    return changes


# Fetches the base where the host pulls and lacks it, then builds from the recipe on stdin
# (no build context), labelled with the base's ID and the recipe's digest.
BUILD = (
    'set -e; docker image inspect "$1" >/dev/null 2>&1 || docker pull -q "$1" >/dev/null; '
    'base=$(docker image inspect -f "{{.Id}}" "$1"); '
    f'exec docker build -q --build-arg BASE="$1" --label "{BASE_LABEL}=$base" '
    f'--label "{RECIPE_LABEL}=$3" -t "$2" -'
)


def build_change(base: str, derivation: Derivation) -> Change:
    build = Command(
        ("sh", "-c", BUILD, "build", base, derivation.image, recipe_digest(derivation)),
        f"build {derivation.image} from {base}",
        stdin=_recipe(derivation),
    )
    summary = f"build {derivation.image} ({derivation.recipe.name} on {base})"
    # Its container runs the new build only once recreated.
    return Change(NAME, summary, (build,), reacts=("up:stack",))


def plan(given: PlanInput) -> list[Change]:
    rendered = given.rendered
    loads = image_changes(rendered, given.facts[IMAGES], given.bundle)
    return loads + build_changes(rendered, given.facts[BUILDS])


def _bundle_lacks(host: Host, images: list[str]) -> DeployError:
    return DeployError(
        f"IMAGE_SOURCE=bundle, and {host.name} lacks {', '.join(images)}: pass a bundle folder "
        "that holds them with --bundle DIR (made by `invoke bundle`)."
    )


def load_change(image: str, archive: Path, step: str = NAME) -> Change:
    """Send a bundle's archive of ``image`` and load it (the tag then names its build)."""
    upload = Upload(archive, f"/tmp/{archive.name}")
    load = Command(("docker", "load", "-i", upload.remote), f"load {image}")
    remove = Command(("rm", "-f", upload.remote), "remove the uploaded archive")
    return Change(step, f"load {image}", (load, remove), uploads=(upload,))


STEP = Step(NAME, (IMAGES, BUILDS), plan)
