"""A new build of the release a host runs already: fetched before anything stops, and the
build it replaces kept for the rollback.

A registry may publish a new build under a tag a host runs (the same tag, another digest).
`fab update` to the release a host runs fetches the stack's images again: `compose pull` where
the host pulls, the bundle's archives whose image differs from the host's where it loads them.
Before that, the build each tag names is tagged `<tag>-previous`, so a rollback can name it
again. The deploy that follows recreates the containers whose tag now names another build:
`docker ps` shows those by image ID (steps/handlers.py).

A stack cut off half-way (some containers on each build) keeps its previous tags as they are:
they still name the builds to go back to.
"""

from __future__ import annotations

import json
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..bundle import archive_name
from ..deploy.fleet import run_all
from ..deploy.host import Options
from ..deploy.runner import run_step
from ..errors import DeployError
from ..model.services import container_name
from ..remote.commands import Command
from ..remote.transport import Remote
from ..render.host import Rendered, render_host
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..steps.changes import Change
from ..steps.handlers import compose
from ..steps.images import BASE_LABEL, load_change
from ..steps.step import StepPlan

NAME = "refresh"
PREVIOUS = "-previous"


@dataclass(frozen=True)
class Build:
    """One service's image on a host: the ID its container runs, the ID its tag names and the
    ID of its previous tag ("" where there is none)."""

    service: str
    image: str
    running: str
    tagged: str
    kept: str

    @property
    def previous(self) -> str:
        return self.image + PREVIOUS


@dataclass(frozen=True)
class Moved:
    service: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.service} {_short(self.before)} -> {_short(self.after)}"


@dataclass(frozen=True)
class Refresh:
    """What fetching the release again did on one host."""

    host: Host
    moved: tuple[Moved, ...] = ()
    error: str = ""
    restored: bool = False  # the previous builds put back, not a fetch

    def summary(self) -> str:
        builds = ", ".join(str(moved) for moved in self.moved)
        if self.restored:
            if self.error:
                return f"{self.host.name}: the previous builds could not be put back: {self.error}"
            return f"{self.host.name}: the previous builds are back: {builds or 'none had moved'}."
        if self.error:
            return f"{self.host.name}: the images could not be fetched: {self.error}"
        if not self.moved:
            return f"{self.host.name}: no new build; its images stay as they are."
        return f"{self.host.name}: a new build of the same release: {builds}."


Plan = Callable[[Rendered, list[Build]], list[Change]]


# A derived image's container names the base build it was made from in a label of its image.
RUNNING_BASE = f"'{{{{index .Config.Labels \"{BASE_LABEL}\"}}}}'"


def builds_script(rendered: Rendered) -> str:
    """Prints one line per service: service, running ID, tagged ID, previous ID ("-": none).
    (`docker inspect` prints an empty line for what does not exist, hence the grep.) For a
    derived image, the build of its base it was made from counts as the running one."""
    lines = ['probe() { "$@" 2>/dev/null | grep . || echo -; }']
    site = rendered.site
    for service in rendered.services:
        image = service.image(site.images)
        running = RUNNING_BASE if service.derived(site) else "'{{.Image}}'"
        ids = [
            f"docker inspect -f {running} {container_name(service.name)}",
            f"docker image inspect -f '{{{{.Id}}}}' {shlex.quote(image)}",
            f"docker image inspect -f '{{{{.Id}}}}' {shlex.quote(image + PREVIOUS)}",
        ]
        lines.append(f"echo {service.name} " + " ".join(f'"$(probe {probe})"' for probe in ids))
    return "\n".join(lines) + "\n"


def parse_builds(rendered: Rendered, output: str) -> list[Build]:
    site = rendered.site
    images = {service.name: service.image(site.images) for service in rendered.services}
    builds = []
    for line in output.splitlines():
        service, running, tagged, kept = line.split()
        ids = [value if value != "-" else "" for value in (running, tagged, kept)]
        builds.append(Build(service, images[service], *ids))
    return builds


def fetch_changes(rendered: Rendered, builds: list[Build], bundle: Path | None) -> list[Change]:
    """Keep the builds the tags name (unless the stack is between builds), then fetch."""
    changes = []
    settled = all(b.running == b.tagged for b in builds if b.running)
    kept = [_tag(b.image, b.previous) for b in builds if b.tagged and settled]
    if kept:
        changes.append(Change(NAME, "keep the builds running now for a rollback", tuple(kept)))
    if rendered.site.images.source == "pull":
        changes.append(Change(NAME, "fetch the release's images again", pull_commands(rendered)))
    else:
        new = _new_archives(builds, bundle)
        changes += [load_change(b.image, archive, NAME) for b, archive in new]
    return changes


def pull_commands(rendered: Rendered) -> tuple[Command, ...]:
    """Compose pulls the services' images; a derived image's base is pulled by name (the
    deploy then builds it again: steps/images.py)."""
    site = rendered.site
    pulled = [s.name for s in rendered.services if not s.derived(site)]
    bases = [s.image(site.images) for s in rendered.services if s.derived(site)]
    pull = compose("pull", "--quiet", *pulled, description="fetch the release's images again")
    return (pull, *(Command(("docker", "pull", "-q", b), f"fetch {b} again") for b in bases))


def restore_changes(builds: list[Build]) -> list[Change]:
    """Name the kept builds by their tags again (the deploy after recreates on them)."""
    back = [_tag(b.previous, b.image) for b in builds if b.kept and b.kept != b.tagged]
    return [Change(NAME, "put back the builds the release ran before", tuple(back))] if back else []


def archive_image_id(archive: Path) -> str:
    """The image ID of a `docker save` archive: its config's digest (legacy or OCI layout)."""
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        if manifest is None:
            raise DeployError(f"{archive} is not a `docker save` archive (no manifest.json).")
        config = json.load(manifest)[0]["Config"]
    return "sha256:" + Path(config).name.removesuffix(".json")


def fetch_all(deployment: Deployment, hosts: list[Host], options: Options) -> list[Refresh]:
    """Fetch each host's release again, in parallel; which images moved where."""

    def plan(rendered: Rendered, builds: list[Build]) -> list[Change]:
        return fetch_changes(rendered, builds, options.bundle)

    return run_all(hosts, lambda host: _on_host(render_host(deployment, host), options, plan))


def restore_all(deployment: Deployment, hosts: list[Host], options: Options) -> list[Refresh]:
    """Put back the builds kept by ``fetch_all``; which images moved back."""

    def plan(rendered: Rendered, builds: list[Build]) -> list[Change]:
        return restore_changes(builds)

    def one(host: Host) -> Refresh:
        return replace(_on_host(render_host(deployment, host), options, plan), restored=True)

    return run_all(hosts, one)


def _on_host(rendered: Rendered, options: Options, plan: Plan) -> Refresh:
    host = rendered.host
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        before = _read(remote, rendered)
        changes = plan(rendered, before)
        outcomes = run_step(remote, StepPlan(NAME, changes)) if changes else []
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            return Refresh(host, error=failed[0].output.strip() or failed[0].change.summary)
        after = {b.service: b.tagged for b in _read(remote, rendered)}
        moved = [Moved(b.service, b.tagged, after[b.service]) for b in before]
        return Refresh(host, tuple(m for m in moved if m.before != m.after))
    except DeployError as error:
        return Refresh(host, error=str(error))
    finally:
        remote.close()


def _read(remote: Remote, rendered: Rendered) -> list[Build]:
    return parse_builds(rendered, remote.run_script(builds_script(rendered), timeout=60).stdout)


def _new_archives(builds: list[Build], bundle: Path | None) -> list[tuple[Build, Path]]:
    """The bundle's archives whose image is not the one the host's tag names (none without a
    bundle: the host keeps what it has, as after a run cut off once this host was done)."""
    if bundle is None:
        return []
    archives = [(b, bundle / archive_name(b.image)) for b in builds]
    return [(b, a) for b, a in archives if a.is_file() and archive_image_id(a) != b.tagged]


def _tag(source: str, target: str) -> Command:
    return Command(("docker", "tag", source, target), f"tag {source} as {target}")


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] or "none"
