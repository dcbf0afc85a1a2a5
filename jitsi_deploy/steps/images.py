"""Container images and services: what a host's role runs, and loading images without a registry.

Hosts that can pull get their images when Compose starts the stack. Hosts that cannot reach a
registry get an offline bundle (`docker save` output) pushed over SSH and loaded, but only when
an image is missing, so a re-deploy sends nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..apply import Step, Upload
from ..changes import Change
from ..commands import Command
from ..config import Site
from ..errors import DeployError
from ..facts import HostFacts
from ..inventory import Host
from ..render import services_of

STEP = "images"
BUNDLE_UPLOAD = "/tmp/jitsi-deploy-images.tar"


def wanted_images(host: Host, site: Site) -> tuple[str, ...]:
    services = services_of(host, site)
    jitsi = tuple(site.images.jitsi(s) for s in services if s != "uptime-kuma")
    return jitsi + ((site.images.uptime_kuma,) if "uptime-kuma" in services else ())


def system_services(host: Host) -> tuple[str, ...]:
    """The host's own services that must be running: nginx only fronts the core."""
    return ("docker", "nginx") if host.role == "core" else ("docker",)


def image_step(host: Host, site: Site, facts: HostFacts, bundle: Path | None) -> Step:
    """Load the bundle when the host uses one and lacks an image; nothing otherwise."""
    missing = [image for image in wanted_images(host, site) if image not in facts.images]
    if site.images.source != "bundle" or not missing:
        return Step(STEP, [])
    if bundle is None or not bundle.is_file():
        raise DeployError(
            f"IMAGE_SOURCE=bundle, and {host.name} lacks {', '.join(missing)}: pass the image "
            "bundle with --bundle FILE (made by `docker save`, e.g. `invoke bundle`)."
        )
    load = Command(("docker", "load", "-i", BUNDLE_UPLOAD), "load the image bundle")
    remove = Command(("rm", "-f", BUNDLE_UPLOAD), "remove the uploaded bundle")
    change = Change(STEP, f"load {len(missing)} missing images from {bundle.name}", (load, remove))
    return Step(STEP, [change], Upload(bundle, BUNDLE_UPLOAD))
