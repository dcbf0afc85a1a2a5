"""Container images and services: what a host's role runs, and loading images without a registry.

Hosts that can pull get their images when Compose starts the stack. Hosts that cannot reach a
registry get the images they lack from an offline bundle (see bundle.py), pushed over SSH and
loaded; images a host already has are not sent, so a re-deploy sends nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..apply import Step, Upload
from ..bundle import archive_name
from ..changes import Change
from ..commands import Command
from ..config import Site
from ..errors import DeployError
from ..facts import HostFacts
from ..inventory import Host
from ..render import services_of

STEP = "images"


def wanted_images(host: Host, site: Site) -> tuple[str, ...]:
    services = services_of(host, site)
    jitsi = tuple(site.images.jitsi(s) for s in services if s != "uptime-kuma")
    return jitsi + ((site.images.uptime_kuma,) if "uptime-kuma" in services else ())


def image_step(host: Host, site: Site, facts: HostFacts, bundle: Path | None) -> Step:
    """Load the images the host lacks from the bundle, when the host uses one."""
    missing = [image for image in wanted_images(host, site) if image not in facts.images]
    if site.images.source != "bundle" or not missing:
        return Step(STEP, [])
    if bundle is None:
        raise _bundle_lacks(host, missing)
    archives = {image: bundle / archive_name(image) for image in missing}
    absent = [image for image, archive in archives.items() if not archive.is_file()]
    if absent:
        raise _bundle_lacks(host, absent)
    uploads = {
        image: Upload(archive, f"/tmp/{archive.name}") for image, archive in archives.items()
    }
    changes = [_load(image, upload.remote) for image, upload in uploads.items()]
    return Step(STEP, changes, tuple(uploads.values()))


def _bundle_lacks(host: Host, images: list[str]) -> DeployError:
    return DeployError(
        f"IMAGE_SOURCE=bundle, and {host.name} lacks {', '.join(images)}: pass a bundle folder "
        "that holds them with --bundle DIR (made by `invoke bundle`)."
    )


def _load(image: str, archive: str) -> Change:
    load = Command(("docker", "load", "-i", archive), f"load {image}")
    remove = Command(("rm", "-f", archive), "remove the uploaded archive")
    return Change(STEP, f"load {image}", (load, remove))
