"""`fab drain`: take a video bridge out of service the way Jitsi does, ending no meeting early.

jitsi-videobridge's drain API (POST /colibri/drain/enable on its private REST port, on by
default at the pinned release) makes jicofo send the bridge no new conference while the ones on
it go on. The drain waits until the bridge's conference count (`jitsi_jvb_conferences` in its
Prometheus metrics) reaches 0, or the timeout, then stops the container: the bridge leaves
jicofo's brewery, and jicofo moves a conference still on it to another bridge (its participants
reconnect).

Not jvb's graceful shutdown (/colibri/shutdown): that API needs the COLIBRI REST API and
SHUTDOWN_REST_ENABLED switched on, and the bridge then exits by itself, which Compose's restart
policy (unless-stopped) undoes at once: the bridge would be back in the brewery.

A drained bridge stays stopped: the health check leaves it alone while the mark
paths.BRIDGE_DRAINED exists, and the next `fab deploy` starts it and removes the mark.
`fab update` drains each bridge host before it recreates its bridge (rolling).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..deploy.host import HostReport, Options
from ..errors import ConfigError, DeployError, Problem
from ..model import paths
from ..model.services import JVB_REST
from ..remote.transport import Output, Remote
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..steps.handlers import COMPOSE

Say = Callable[[str], None]
POLL_SECONDS = 5.0
# Exit codes of START: the bridge is not running; it runs the image named already.
NOT_RUNNING, ON_IMAGE = 3, 4

_CONTAINER = (
    f"c=$(docker ps -q --filter label=com.docker.compose.project={paths.COMPOSE_PROJECT} "
    "--filter label=com.docker.compose.service=jvb)"
)
# The mark comes first, so no health-check run restarts the bridge the drain stops.
_MARK = f"mkdir -p {paths.HEALTH_STATE_DIR} && : > {paths.BRIDGE_DRAINED}"
_ENABLE = (
    f"curl -fsS -X POST {JVB_REST}/colibri/drain/enable || "
    f"{{ rm -f {paths.BRIDGE_DRAINED}; exit 1; }}"
)
# The real handler splits the Accept header without a null check: it must be sent.
COUNT = f"curl -fsS -H 'Accept: text/plain' {JVB_REST}/metrics"
# A drain that cannot go on takes the bridge out of drain mode again: nothing half done.
UNDO = f"curl -fsS -X POST {JVB_REST}/colibri/drain/disable; rm -f {paths.BRIDGE_DRAINED}"
STOP = f"flock -w 600 {paths.HEALTH_LOCK} sh -c {shlex.quote(COMPOSE)} compose stop jvb"


@dataclass(frozen=True)
class Drained:
    """How a host's drain ended: ``left`` conferences were still on the bridge when it stopped
    (the timeout), after ``seconds``; ``note`` says why nothing needed draining."""

    host: str
    seconds: float = 0.0
    left: int = 0
    note: str = ""
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"{self.host}: the drain failed: {self.error}"
        if self.note:
            return f"{self.host}: {self.note}"
        took = f"after {_duration(self.seconds)}"
        if self.left:
            return (
                f"{self.host}: the bridge stopped at the timeout ({took}) with {self.left} "
                "conference(s) still on it: jicofo moves them to another bridge, whose "
                "participants reconnect."
            )
        return f"{self.host}: drained {took}: no conference was on it when it stopped."


def check_targets(deployment: Deployment, hosts: list[Host]) -> None:
    """Refuse a drain that leaves a site no bridge: its new meetings would have nowhere to go."""
    chosen = {host.name for host in hosts}
    if all(host.name in chosen for host in deployment.hosts):
        names = ", ".join(sorted(chosen))
        message = (
            "would leave the site no video bridge, so no new meeting could start. Add a bridge "
            "first (README: Adding and removing a video bridge); restart one with fab restart."
        )
        raise ConfigError([Problem("-H", names, message)])


def drain_one(host: Host, options: Options, say: Say, timeout: float, image: str = "") -> Drained:
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        return drain_host(remote, host.name, say, timeout, image)
    finally:
        remote.close()


def start_script(image: str = "") -> str:
    """Mark the host drained and switch the bridge to drain mode. With ``image``, a bridge that
    runs that image, by name and build, is left alone (exit ON_IMAGE): no recreation is due."""
    same = ""
    if image:
        # Compose recreates the container when its image's name or the build it names moved.
        name = shlex.quote(image)
        wanted = f"{image} $(docker image inspect -f '{{{{.Id}}}}' {name} 2>/dev/null)"
        running = "$(docker inspect -f '{{.Config.Image}} {{.Image}}' $c)"
        same = f'[ -n "$c" ] && [ "{running}" = "{wanted}" ] && exit {ON_IMAGE}; '
    return f'{_CONTAINER}; {same}{_MARK} && {{ [ -n "$c" ] || exit {NOT_RUNNING}; }} && {_ENABLE}'


def conferences(metrics: str) -> int | None:
    """The bridge's conference count from its Prometheus text, None when it is missing."""
    found = re.search(r"^jitsi_jvb_conferences(?:\{[^}]*\})? ([0-9.eE+]+)$", metrics, re.M)
    return int(float(found.group(1))) if found else None


def drain_host(
    remote: Remote,
    host: str,
    say: Say,
    timeout: float,
    image: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Drained:
    """Drain the bridge on ``remote`` and stop it once its conferences ended or ``timeout``
    seconds passed; never raises for the host's own failure."""
    started = clock()
    try:
        begun = remote.run_script(start_script(image), timeout=60)
        if begun.exit_code == ON_IMAGE:
            return Drained(host, note="its bridge runs that build already: no drain needed.")
        if begun.exit_code == NOT_RUNNING:
            return Drained(host, note="its bridge is not running: nothing to drain (kept so).")
        if begun.exit_code != 0:
            return Drained(host, error=f"the bridge refused drain mode: {_text(begun)}")
        try:
            left = _wait(remote, host, say, started + timeout, clock, sleep)
        except DeployError as error:
            remote.run_script(UNDO, timeout=60)
            return Drained(host, error=f"{error}; drain mode is off again, the bridge runs on")
        stopped = remote.run_script(STOP, timeout=660)
        if stopped.exit_code != 0:
            return Drained(host, error=f"the bridge did not stop: {_text(stopped)}")
    except DeployError as error:
        return Drained(host, error=str(error))
    return Drained(host, clock() - started, left)


def _wait(
    remote: Remote,
    host: str,
    say: Say,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> int:
    """Conferences still on the bridge at the deadline (0 once they ended). A metrics request
    that fails is asked again: stopping the bridge on a passing hiccup would end its meetings."""
    left, shown = 0, None
    while True:
        answer = remote.run_script(COUNT, timeout=30)
        if answer.exit_code == 0:
            count = conferences(answer.stdout)
            if count is None:
                raise DeployError(f"its metrics lack jitsi_jvb_conferences: {_text(answer)}")
            left = count
            if count == 0:
                return 0
        if clock() >= deadline:
            return left
        if answer.exit_code == 0 and left != shown:
            wait = _duration(max(deadline - clock(), 0))
            say(f"{host}: in drain mode, {left} conference(s) on it; waiting up to {wait}.")
            shown = left
        sleep(POLL_SECONDS)


def rolling(
    hosts: list[Host],
    deploy: Callable[[list[Host]], list[HostReport]],
    drain: Callable[[Host], Drained],
) -> list[HostReport]:
    """Deploy the core hosts together, then each bridge host alone after draining it, so a
    bridge is recreated only once its meetings ended. Stops at the first host that fails."""
    cores = [host for host in hosts if host.role != "jvb"]
    reports = deploy(cores) if cores else []
    for bridge in (host for host in hosts if host.role == "jvb"):
        if any(report.error for report in reports):
            break
        drained = drain(bridge)
        if drained.error:
            reports.append(HostReport(bridge, error=drained.summary()))
            break
        reports += deploy([bridge])
    return reports


def _text(output: Output) -> str:
    return (output.stdout + output.stderr).strip()[:300] or f"exit code {output.exit_code}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
