"""`fab update`: move every host to another pinned release, and back when it does not work.

An update is a deploy of the same settings with another image tag, so it keeps the deploy's
guarantees: every image is on the host (pulled, or sent from the bundle) before Compose stops a
container, services are recreated in dependency order, and a run cut off half-way is finished by
the next one (the reactions owed are kept on the host). Then the smoke checks are awaited. If a
host fails or the checks do not pass in time, every host is deployed again with the release it
ran before, whose images are still there, and the checks are awaited once more.

An update to the release a host runs fetches its images again (refresh.py): when the registry
or the bundle has a new build of that tag, it is said, the containers move to it, and the
rollback names the previous builds by their tags again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from ..deploy.fleet import run_all
from ..deploy.host import HostReport, Options
from ..errors import ConfigError, DeployError, Problem
from ..model.services import container_name
from ..remote.transport import Remote
from ..settings.inventory import Host
from ..settings.reader import MOVING_TAGS, is_image_tag
from ..settings.site import Deployment
from ..smoke.checks import Result
from .refresh import Refresh

# The one Jitsi container every role runs: its image tag is the release a host is on.
PROBE_SERVICE = "jvb"
# Seconds a stack rolled back to its previous release gets to settle (jicofo must see its
# bridges again), as a deploy gives a (re)started stack.
ROLLBACK_WAIT = 180.0

Deploy = Callable[[Deployment, list[Host]], list[HostReport]]
# The smoke checks, retried for up to the given seconds while the stack settles.
Smoke = Callable[[Deployment, list[Host], float], list[Result]]
# Fetch the release a host runs again, or put its previous builds back (refresh.py).
Rebuild = Callable[[Deployment, list[Host]], list[Refresh]]


@dataclass(frozen=True)
class Rebuilds:
    fetch: Rebuild
    restore: Rebuild


@dataclass(frozen=True)
class Phase:
    """One deploy across the hosts and the smoke checks that followed it."""

    reports: list[HostReport]
    checks: list[Result]

    @property
    def passed(self) -> bool:
        deployed = not any(report.error for report in self.reports)
        return deployed and bool(self.checks) and all(c.status != "fail" for c in self.checks)


@dataclass(frozen=True)
class Update:
    attempt: Phase | None
    rollback: Phase | None = None
    fetched: tuple[Refresh, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.attempt is not None and self.attempt.passed

    @property
    def fetch_failed(self) -> bool:
        return any(refresh.error for refresh in self.fetched)


def check_version(version: str) -> None:
    if not is_image_tag(version) or version.lower() in MOVING_TAGS:
        message = "is not a pinned image tag. Name a release, e.g. --version stable-11146-2."
        raise ConfigError([Problem("--version", version, message)])


def running_versions(hosts: list[Host], options: Options) -> dict[str, str]:
    """The release each host runs now, read from its bridge container's image, in parallel."""

    def one(host: Host) -> str:
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        probe = f"docker inspect -f '{{{{.Config.Image}}}}' {container_name(PROBE_SERVICE)}"
        try:
            result = remote.run_script(probe, timeout=60)
        finally:
            remote.close()
        image = result.stdout.strip()
        if result.exit_code != 0 or ":" not in image:
            raise DeployError(
                f"{host.name} runs no Jitsi release yet ({container_name(PROBE_SERVICE)} not "
                "found): deploy it with `fab deploy` first; an update needs a release to go "
                "back to."
            )
        return image.rpartition(":")[2]

    return dict(zip((h.name for h in hosts), run_all(hosts, one), strict=True))


def with_versions(deployment: Deployment, versions: dict[str, str]) -> Deployment:
    """The deployment with each named host's Jitsi images at the given tag."""
    sites = dict(deployment.sites)
    for name, version in versions.items():
        site = sites[name]
        sites[name] = replace(site, images=replace(site.images, jitsi_version=version))
    return replace(deployment, sites=sites)


def update(
    deployment: Deployment,
    hosts: list[Host],
    version: str,
    previous: dict[str, str],
    deploy: Deploy,
    smoke: Smoke,
    wait: float,
    rebuilds: Rebuilds,
    announce: Callable[[str], None] = print,
) -> Update:
    """Deploy ``version`` to ``hosts`` and give it ``wait`` seconds to pass the checks; roll
    back to ``previous`` (each host's release before) when a host fails or the checks do not
    pass. The release rolled back to always gets ROLLBACK_WAIT: it is known to work. Hosts on
    ``version`` already fetch it again first; a failed fetch stops the update before anything
    is recreated."""
    announce(f"Updating {len(hosts)} host(s) to {version}.")
    wanted = {h.name: version for h in hosts}
    target = with_versions(deployment, wanted)
    same = [h for h in hosts if previous[h.name] == version]
    fetched = tuple(rebuilds.fetch(target, same)) if same else ()
    for refresh in fetched:
        announce(refresh.summary())
    if any(refresh.error for refresh in fetched):
        for restored in rebuilds.restore(target, same):
            announce(restored.summary())
        return Update(None, fetched=fetched)
    attempt = _phase(deployment, hosts, wanted, deploy, partial(smoke, wait=wait))
    if attempt.passed:
        return Update(attempt, fetched=fetched)
    before = ", ".join(sorted(set(previous.values())))
    announce(f"{version} did not pass: rolling every host back to {before}.")
    if same:
        for refresh in rebuilds.restore(target, same):
            announce(refresh.summary())
    checks = partial(smoke, wait=max(wait, ROLLBACK_WAIT))
    return Update(attempt, _phase(deployment, hosts, previous, deploy, checks), fetched)


def _phase(
    deployment: Deployment,
    hosts: list[Host],
    versions: dict[str, str],
    deploy: Deploy,
    smoke: Callable[[Deployment, list[Host]], list[Result]],
) -> Phase:
    target = with_versions(deployment, versions)
    reports = deploy(target, hosts)
    # A host that failed to converge already decides the phase: no checks to wait for.
    checks = [] if any(report.error for report in reports) else smoke(target, hosts)
    return Phase(reports, checks)
