"""Container images and services: what a host's role runs, and loading images without a registry.

Hosts that can pull get their images when Compose starts the stack. Hosts that cannot reach a
registry get the images they lack from an offline bundle (see bundle.py), pushed over SSH and
loaded; images a host already has are not sent, so a re-deploy sends nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..bundle import archive_name
from ..errors import DeployError
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


def wanted_images(rendered: Rendered) -> tuple[str, ...]:
    return tuple(service.image(rendered.site.images) for service in rendered.services)


def image_changes(rendered: Rendered, present: dict[str, int], bundle: Path | None) -> list[Change]:
    """Load the images the host lacks from the bundle, when the host uses one."""
    missing = [image for image in wanted_images(rendered) if image not in present]
    if rendered.site.images.source != "bundle" or not missing:
        return []
    if bundle is None:
        raise _bundle_lacks(rendered.host, missing)
    archives = {image: bundle / archive_name(image) for image in missing}
    absent = [image for image, archive in archives.items() if not archive.is_file()]
    if absent:
        raise _bundle_lacks(rendered.host, absent)
    return [load_change(image, archive) for image, archive in archives.items()]


def plan(given: PlanInput) -> list[Change]:
    return image_changes(given.rendered, given.facts[IMAGES], given.bundle)


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


STEP = Step(NAME, (IMAGES,), plan)
