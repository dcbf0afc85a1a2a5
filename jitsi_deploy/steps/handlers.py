"""Reactions to changed files: reload or restart exactly what a change affects, in order.

Reactions owed are written to a file on the host before the files change and cleared after
the reactions ran, so a deploy cut off in between still reloads on the next run.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from pathlib import PurePosixPath

from ..model import paths
from ..model.proxy import NginxControl
from ..model.services import (
    JVB_REST,
    POSTGRES,
    PROSODY,
    PROSODY_DATABASE,
    SERVICES,
    container_name,
)
from ..remote.commands import Command, sh
from ..render.host import Rendered
from .changes import Change, previous_copy
from .facts import Fact, exists, fixed
from .images import IMAGES, wanted_images
from .step import PlanInput, Step

NAME = "handlers"
# A restart of these ends every conference they carry; check mode and the progress say so.
MEETING_SERVICES = ("prosody", "jicofo", "jvb")
ENDS_MEETINGS = " (ends every meeting in progress on this host)"
RECREATES_MEETINGS = " (ends the meetings on each meeting service it recreates)"
HOST_NGINX = NginxControl()
# Host reactions first; then the stack, then each service whose own files changed.
HOST_ORDER = (
    "sysctl",
    "restart:docker",
    "docker-user",
    "reload:nginx",
    "turn",
    "turn:off",
    "restart:fail2ban",
    "pull:images",
    "up:stack",
    "load:database",
)

PENDING = Fact(
    "pending", fixed(f"cat {paths.PENDING_REACTIONS} 2>/dev/null"), lambda out: frozenset(out)
)
ARMED = exists("health-armed", paths.HEALTH_ARMED)

# A database dump a restore put back (operations/backup.py), for the new database to load.
RESTORED = exists("restored-dump", paths.RESTORED_DUMP)
# Loads it in one transaction (a failure keeps the database as it was, and the dump for the
# next deploy), then removes it.
LOAD_DUMP = (
    'docker exec -i "$1" pg_restore --single-transaction --clean --if-exists --no-owner '
    f'-U {PROSODY_DATABASE.username} -d {PROSODY_DATABASE.database} < "$2" && rm -f "$2"'
)

# Made by `fab drain` (operations/drain.py): a deploy brings the bridge back.
DRAINED = exists("bridge-drained", paths.BRIDGE_DRAINED)
# Arms the health check once the stack is up, and ends a drain: the bridge `fab drain` stopped
# runs again (up started it), or one left in drain mode by a drain cut off takes conferences
# again; the health check watches it again.
ARM = (
    '[ -e "$1" ] || : > "$1"; [ -e "$2" ] || exit 0; '
    f'curl -fsS -X POST {JVB_REST}/colibri/drain/disable >/dev/null 2>&1; rm -f "$2"'
)


def parse_running(lines: list[str]) -> dict[str, str]:
    """Each running service with its image as `docker ps` shows it: the image's name while
    the container runs what that name points to, its ID once the name points to another build
    (an update fetched a new build of the same tag, or put the previous one back)."""
    return dict(line.split(" ", 1) for line in lines if " " in line)


RUNNING = Fact(
    "running",
    fixed(
        f"docker ps --filter label=com.docker.compose.project={paths.COMPOSE_PROJECT} "
        "--format '{{.Label \"com.docker.compose.service\"}} {{.Image}}' 2>/dev/null"
    ),
    parse_running,
)

COMPOSE = (
    f"cd {paths.STACK_DIR} && "
    'if docker compose version >/dev/null 2>&1; then docker compose "$@"; '
    'else docker-compose "$@"; fi'
)


def compose(*args: str, description: str) -> Command:
    """Compose v2 where the host has it, else v1: decided on the host, when it runs.

    It holds the health check's lock, so a cron run never recreates a container the deploy is
    bringing up at the same moment (the health check skips a run while the lock is held).
    """
    return Command(
        ("flock", "-w", "600", paths.HEALTH_LOCK, "sh", "-c", COMPOSE, "compose", *args),
        description,
    )


def remember(reactions: Iterable[str]) -> Change:
    lines = "".join(f"{r}\n" for r in sorted(set(reactions)))
    script = 'mkdir -p "$(dirname "$1")" && cat >> "$1"'
    command = Command(
        ("sh", "-c", script, "remember", paths.PENDING_REACTIONS),
        "remember the reactions owed",
        stdin=lines.encode(),
    )
    return Change("files", "note the reloads and restarts owed", (command,))


def reaction_changes(
    reactions: Iterable[str],
    nginx_files: Iterable[str],
    services: Iterable[str] = (),
    to_pull: Iterable[str] = (),
    meetings_run: bool = False,
) -> list[Change]:
    """The reactions, in dependency order (``services`` in start order), then clearing the
    owed list. ``to_pull``: the services whose images a pull fetches; ``meetings_run``: a
    meeting service runs, so recreating the stack may end meetings."""
    wanted = set(reactions)
    order = (*HOST_ORDER, *(f"restart:{service}" for service in services))
    context = (tuple(nginx_files), tuple(to_pull), meetings_run)
    changes = [_reaction(name, *context) for name in order if name in wanted]
    if changes:
        done = Command(("rm", "-f", paths.PENDING_REACTIONS), "clear the reactions owed")
        changes.append(Change(NAME, "all reactions done", (done,)))
    return changes


def plan(given: PlanInput) -> list[Change]:
    rendered, facts = given.rendered, given.facts
    reactions = {r for change in given.earlier_changes() for r in change.reacts}
    reactions |= facts[PENDING]
    stale = stale_services(rendered, facts[RUNNING])
    if stale or not facts[ARMED] or facts[DRAINED]:
        reactions.add("up:stack")  # the health check is armed, a drain ended, once it is up
    if "up:stack" in reactions:
        # `up` starts or recreates these with their new files: restarting them after it
        # would only end their meetings a second time.
        reactions -= {f"restart:{service}" for service in stale}
    if facts[RESTORED] and POSTGRES.name in rendered.service_names:
        reactions.add("load:database")
    missing = missing_images(rendered, facts[IMAGES])
    if "up:stack" in reactions and rendered.site.images.source == "pull" and missing:
        # Every image is fetched before Compose stops the first container (Compose v1 pulls
        # service by service while it recreates them), so a registry failure stops nothing.
        # Only the missing ones: a deploy never moves a tag the host has (`fab update` does).
        reactions.add("pull:images")
    nginx_files = [f.path for f in rendered.files if "reload:nginx" in f.reacts]
    meetings_run = any(service in facts[RUNNING] for service in MEETING_SERVICES)
    return reaction_changes(reactions, nginx_files, rendered.service_names, missing, meetings_run)


def stale_services(rendered: Rendered, running: dict[str, str]) -> list[str]:
    """The services not running the image they are meant to: stopped, or on another build."""
    wanted = zip(rendered.service_names, wanted_images(rendered), strict=True)
    return [service for service, image in wanted if running.get(service) != image]


def missing_images(rendered: Rendered, present: dict[str, int]) -> list[str]:
    """The services whose image the host lacks and a pull fetches (a derived one is built by
    the images step, which fetches its base)."""
    site = rendered.site
    return [
        service.name
        for service in rendered.services
        if not service.derived(site) and service.image(site.images) not in present
    ]


def _reaction(
    name: str, nginx_files: tuple[str, ...], to_pull: tuple[str, ...], meetings_run: bool
) -> Change:
    if name == "sysctl":
        apply = Command(("sysctl", "-p", paths.SYSCTL_FILE), "apply kernel settings")
        # Containers and some VPSes refuse kernel keys: a warning, not a failed deploy.
        return Change(
            NAME, "apply kernel settings", (apply,), warn_only=True, explain=_kernel_refused
        )
    if name == "restart:docker":
        reload_units = Command(("systemctl", "daemon-reload"), "reload systemd units")
        restart = Command(("systemctl", "restart", "docker"), "restart the Docker daemon")
        summary = f"restart the Docker daemon{ENDS_MEETINGS}"
        return Change(NAME, summary, (reload_units, restart), ends_meetings=True)
    if name == "docker-user":
        unit = PurePosixPath(paths.DOCKER_USER_UNIT).name
        reload_units = Command(("systemctl", "daemon-reload"), "reload systemd units")
        enable = Command(("systemctl", "enable", unit), f"run {unit} after every Docker start")
        apply = Command(("systemctl", "restart", unit), "apply who may reach published ports")
        return Change(
            NAME, "limit who reaches the ports Docker publishes", (reload_units, enable, apply)
        )
    if name == "reload:nginx":
        return Change(NAME, "test and reload nginx", (reload_nginx(nginx_files),))
    if name == "turn":
        return Change(NAME, "restart the TURN server with its new settings", turn_restart())
    if name == "turn:off":
        stop = Command(("systemctl", "disable", "--now", "coturn"), "stop coturn")
        # Masked again: without the deploy's settings it would start as an open relay.
        mask = Command(("systemctl", "mask", "coturn"), "keep coturn from starting")
        return Change(NAME, "stop the TURN server: TURN_HOSTNAME is empty", (stop, mask))
    if name == "restart:fail2ban":
        restart = Command(("systemctl", "restart", "fail2ban"), "restart fail2ban")
        return Change(NAME, "restart fail2ban for its new jails", (restart,))
    if name == "pull:images":
        pull = compose("pull", "--quiet", *to_pull, description="fetch the images missing")
        return Change(NAME, "fetch the stack's images before recreating anything", (pull,))
    if name == "up:stack":
        up = compose("up", "-d", "--remove-orphans", description="start or update the stack")
        arm = Command(
            ("sh", "-c", ARM, "arm", paths.HEALTH_ARMED, paths.BRIDGE_DRAINED),
            "arm the health check: the stack is up",
        )
        if not meetings_run:
            return Change(NAME, "start or update the containers that changed", (up, arm))
        summary = f"start or update the containers that changed{RECREATES_MEETINGS}"
        return Change(NAME, summary, (up, arm), ends_meetings=True)
    if name == "load:database":
        return load_database()
    if name.startswith("restart:"):
        service = name.removeprefix("restart:")
        restart = compose("restart", service, description=f"restart {service}")
        meeting = service in MEETING_SERVICES
        ends = ENDS_MEETINGS if meeting else ""
        summary = f"restart {service} for its new settings{ends}"
        return Change(NAME, summary, (restart,), ends_meetings=meeting)
    raise ValueError(f"unknown reaction {name!r}")


def load_database() -> Change:
    """The restored dump into the database Prosody uses, then Prosody restarted to read it,
    and the services that keep a session with it (model/services.py, restarts_after)."""
    postgres = container_name(POSTGRES.name)
    load = Command(
        ("sh", "-c", LOAD_DUMP, "load", postgres, paths.RESTORED_DUMP),
        "load the restored database dump",
    )
    names = [PROSODY.name, *(s.name for s in SERVICES if PROSODY.name in s.restarts_after)]
    restart = compose("restart", *names, description=f"restart {', '.join(names)}")
    summary = f"load the restored database into PostgreSQL, restart prosody{ENDS_MEETINGS}"
    return Change(NAME, summary, (load, restart), ends_meetings=True)


def turn_restart() -> tuple[Command, ...]:
    """coturn with the site's settings: its package leaves the unit masked (steps/packages.py),
    so that it never runs on the package's defaults, an open relay."""
    return (
        Command(("systemctl", "daemon-reload"), "reload systemd units"),
        Command(("systemctl", "unmask", "coturn"), "let coturn run"),
        Command(("systemctl", "enable", "coturn"), "start coturn at boot"),
        Command(("systemctl", "restart", "coturn"), "restart coturn"),
    )


def _kernel_refused(output: str) -> str:
    """What a refused kernel key means for meetings, with the keys sysctl named."""
    paths_named = re.findall(r"/proc/sys/([\w/.-]+)", output)
    keys_named = re.findall(r'key "([\w.-]+)"', output)
    keys = sorted({*(p.replace("/", ".") for p in paths_named), *keys_named})
    named = ", ".join(keys) or "some keys"
    return (
        f"this kernel does not let the host set {named} (containers and some virtual servers "
        "keep their own). Meetings still work; the kernel's own limits stay, which may drop "
        "video packets under load. Set them on the machine that runs this kernel if you can "
        f"({paths.SYSCTL_FILE} lists them)."
    )


def reload_nginx(files: tuple[str, ...], nginx: NginxControl = HOST_NGINX) -> Command:
    """Reload only a config `nginx -t` accepts; otherwise put back the files as they were
    before this deploy (or remove the ones it added), so nginx never stays on a broken config."""
    restore = "".join(
        f'if [ -e "{previous_copy(path)}" ]; then mv -f "{previous_copy(path)}" "{path}"; '
        f'else rm -f "{path}"; fi; '
        for path in files
    )
    return sh(
        f"if {shlex.join(nginx.test)}; then {shlex.join(nginx.reload)}; "
        f"else {restore}echo 'nginx -t refused the new config: the previous one stays'; "
        "exit 1; fi",
        "test the nginx config, then reload nginx",
    )


STEP = Step(NAME, (PENDING, RUNNING, ARMED, DRAINED, RESTORED, IMAGES), plan)
