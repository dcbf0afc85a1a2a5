"""Refuse a converge that would fill a disk, with the numbers, before anything is written.

A disk that fills mid-deploy leaves a half-loaded image or an install dpkg must repair; a
refusal up front costs one `df` in the facts round trip. Each file system the converge writes
to keeps HEADROOM free after what the plan puts there: the images it loads or pulls on Docker's,
the largest uploaded archive on the uploads' (archives are sent and loaded one at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import DeployError
from ..render.host import Rendered
from ..settings.inventory import Host
from ..steps.facts import Fact, HostFacts, fixed
from ..steps.images import IMAGES, repository, wanted_images
from ..steps.step import StepPlan

# Packages, logs, configuration, certificates and Prosody's data, with room to spare.
HEADROOM = 1024**3
ROOT, UPLOADS, DOCKER_ROOT = "/", "/tmp", "/var/lib/docker"
# One df for the three; a fresh host has no /var/lib/docker yet: /var/lib will hold it.
SCRIPT = (
    f"d={DOCKER_ROOT}; [ -d $d ] || d=/var/lib; "
    f"df -PB1 {ROOT} {UPLOADS} $d 2>/dev/null | awk 'NR>1 {{print $6, $4}}'"
)


@dataclass(frozen=True)
class Space:
    """The mount point holding a path, and its free bytes."""

    mount: str
    free: int


@dataclass(frozen=True)
class Need:
    """``bytes`` that the plan writes under ``path``, and what they are."""

    path: str
    bytes: int
    what: str


def parse_space(lines: list[str]) -> dict[str, Space]:
    """df's lines in the order of its arguments; a path df could not measure is left out."""
    spaces = {}
    for path, line in zip((ROOT, UPLOADS, DOCKER_ROOT), lines, strict=False):
        mount, _, free = line.rpartition(" ")
        spaces[path] = Space(mount, int(free))
    return spaces


FREE_SPACE = Fact("free-space", fixed(SCRIPT), parse_space)
FACTS = (FREE_SPACE,)


def needs(rendered: Rendered, present: dict[str, int], steps: list[StepPlan]) -> list[Need]:
    """What the plan writes where: nothing for a no-op; any change writes on / at least."""
    changes = [change for step in steps for change in step.changes]
    if not changes:
        return []
    found = [Need(ROOT, 0, "configuration and packages")]
    archives = [upload.local.stat().st_size for c in changes for upload in c.uploads]
    if archives:
        found.append(Need(UPLOADS, max(archives), "the largest image archive while it loads"))
        found.append(Need(DOCKER_ROOT, sum(archives), f"{len(archives)} images to load"))
    pulled = _pull_estimate(rendered, present)
    if pulled:
        found.append(
            Need(DOCKER_ROOT, pulled, "the images to pull (as large as those they replace)")
        )
    return found


def _pull_estimate(rendered: Rendered, present: dict[str, int]) -> int:
    """The images to pull, each as large as the host's image of the same repository (the
    release it replaces); an image new to the host counts nothing, as only its registry
    knows its size (and an update pulls before it stops anything)."""
    if rendered.site.images.source != "pull":
        return 0
    sizes_by_repository: dict[str, int] = {}
    for image, size_bytes in present.items():
        sizes_by_repository[repository(image)] = size_bytes
    missing = [image for image in wanted_images(rendered) if image not in present]
    return sum(sizes_by_repository.get(repository(image), 0) for image in missing)


def shortages(spaces: dict[str, Space], wanted: Iterable[Need]) -> list[str]:
    """One line per file system that would keep less than HEADROOM free."""
    by_mount: dict[str, list[Need]] = {}
    for need in wanted:
        if need.path in spaces:
            by_mount.setdefault(spaces[need.path].mount, []).append(need)
    lines = []
    for mount, mount_needs in by_mount.items():
        free = next(s.free for s in spaces.values() if s.mount == mount)
        total = HEADROOM + sum(n.bytes for n in mount_needs)
        if free < total:
            parts = [f"{_gib(n.bytes)} for {n.what}" for n in mount_needs if n.bytes]
            parts.append(f"{_gib(HEADROOM)} to spare")
            lines.append(f"{mount}: {_gib(free)} free, {_gib(total)} needed ({', '.join(parts)})")
    return lines


def _gib(amount: int) -> str:
    return f"{amount / 2**30:.1f} GiB"


def refuse_when_short(
    host: Host, rendered: Rendered, facts: HostFacts, steps: list[StepPlan]
) -> None:
    """A DeployError with the numbers when a disk is too full for the plan."""
    short = shortages(facts[FREE_SPACE], needs(rendered, facts[IMAGES], steps))
    if short:
        raise DeployError(
            f"{host.name} has not enough free disk space for this deploy, so nothing was "
            "changed:\n  " + "\n  ".join(short) + "\nFree space on the host (`docker image "
            "prune -a` removes images no container uses, `apt-get clean` the package cache), "
            "then deploy again."
        )
