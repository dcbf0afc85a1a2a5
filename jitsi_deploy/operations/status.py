"""`fab status`: what runs on each host, read in one round trip, as one model for both views.

The host runs one script whose sections (``@@name`` headers, see steps/facts.py) each come from a
small snippet; each section has a pure parser, tested from captured output. ``host_status``
turns the parsed sections into a HostStatus, and the views (status_views.py) only format it.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from ..deploy.fleet import run_all
from ..deploy.host import Options
from ..errors import DeployError
from ..model import paths
from ..model.brewery import JICOFO_DEBUG_URL, Brewery, expected_bridges, parse_debug
from ..model.services import (
    COLLECTOR,
    JICOFO,
    JICOFO_STATS_URL,
    Placement,
    Service,
    container_name,
    placement_of,
    services_at,
)
from ..remote.transport import ConnectError, Remote
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..smoke.checks import MIN_DAYS_LEFT
from ..steps.facts import SYSTEM_SERVICES, parse_states, split_sections

# A container the engine restarted this recently is still in its restart loop: between two
# restarts `docker inspect` says "running" for a moment, which must not read as healthy.
RESTART_LOOP_SECONDS = 60
ACTIONS_SHOWN = 3
SCRIPT_TIMEOUT = 60


@dataclass(frozen=True)
class ServiceStatus:
    """One container: its state ("running", "restarting", "exited(1)", "missing", ...), its
    health ("healthy", "unhealthy", "starting", "" without a check), the image it runs."""

    name: str
    container: str
    state: str
    health: str = ""
    image: str = ""
    digest: str = ""
    image_id: str = ""
    uptime_seconds: int | None = None
    restarts: int | None = None
    detail: str = ""  # why the state is "unknown" (Docker did not answer)

    @property
    def problem(self) -> str:
        if self.state != "running":
            return f"{self.name} is {self.state}" + (f": {self.detail}" if self.detail else "")
        if self.health == "unhealthy":
            return f"{self.name} is unhealthy"
        return ""


@dataclass(frozen=True)
class Disk:
    mount: str
    free_bytes: int
    size_bytes: int


@dataclass(frozen=True)
class Memory:
    available_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class Certificate:
    name: str
    days_left: int | None  # None: unreadable


@dataclass(frozen=True)
class Jicofo:
    """What jicofo says: the bridges it can use and those draining, by nickname (/debug), live
    conferences and participants (/stats); or why it said nothing."""

    bridges: tuple[str, ...] = ()
    conferences: int | None = None
    participants: int | None = None
    error: str = ""
    expected_bridges: tuple[str, ...] = ()  # the core's own and each [jvb] host's
    draining: tuple[str, ...] = ()

    @property
    def brewery(self) -> Brewery:
        return Brewery(self.bridges, self.draining)

    @property
    def missing(self) -> tuple[str, ...]:
        return self.brewery.missing(self.expected_bridges)


@dataclass(frozen=True)
class LiveMeeting:
    room: str
    participants: int
    peak: int
    started: int  # unix seconds
    seconds: int  # in progress for, by the host's clock


@dataclass(frozen=True)
class Meetings:
    """The meetings in progress, as the collector keeps them in Redis; or why it said nothing."""

    live: tuple[LiveMeeting, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class HostStatus:
    """One host: an error (unreachable, sudo refused) or everything the script read."""

    host: str
    role: str
    error: str = ""
    reachable: bool = True
    system: dict[str, str] = field(default_factory=dict)
    services: tuple[ServiceStatus, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    disks: tuple[Disk, ...] = ()
    memory: Memory | None = None
    jicofo: Jicofo | None = None
    actions: tuple[str, ...] = ()
    backup: str = ""  # the nightly backup's last line: "<time> jitsi-backup OK|FAIL ..."
    meetings: Meetings | None = None  # the core's, with the meeting history on

    @property
    def problems(self) -> list[str]:
        """Everything that makes `fab status` exit non-zero for this host."""
        if self.error:
            return [self.error]
        found = [f"{unit} is {state}" for unit, state in self.system.items() if state != "active"]
        found += [s.problem for s in self.services if s.problem]
        for cert in self.certificates:
            if cert.days_left is None or cert.days_left < MIN_DAYS_LEFT:
                left = "unreadable" if cert.days_left is None else f"{cert.days_left} days left"
                found.append(f"certificate {cert.name}: {left}")
        if self.meetings and self.meetings.error:
            found.append(f"meeting history: {self.meetings.error}")
        if self.jicofo and self.jicofo.error:
            found.append(f"jicofo's stats: {self.jicofo.error}")
        elif self.jicofo and self.jicofo.missing:
            found.append(
                f"jicofo lacks {', '.join(self.jicofo.missing)} of the inventory's bridges"
            )
        if " jitsi-backup FAIL " in self.backup:
            found.append(f"the last nightly backup failed ({paths.HOST_BACKUP_LOG})")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


# --- the script, one section per concern ---------------------------------------------------------

# Tab-separated; health is empty for a container without a health check.
INSPECT_FORMAT = (
    "{{.State.Status}}\t{{if .State.Health}}{{.State.Health.Status}}{{end}}\t"
    "{{.State.StartedAt}}\t{{.RestartCount}}\t{{.Config.Image}}\t{{.Image}}\t{{.State.ExitCode}}"
)


def _containers_snippet(names: list[str]) -> str:
    return (
        f"for c in {' '.join(names)}; do "
        f"if out=$(docker inspect --format '{INSPECT_FORMAT}' \"$c\" 2>&1); "
        'then printf "%s\\t%s\\n" "$c" "$out"; '
        'else printf "%s\\terror\\t%s\\n" "$c" "$(printf %s "$out" | tr "\\n" " ")"; fi; done'
    )


def _digests_snippet(names: list[str]) -> str:
    return (
        f"docker inspect --format '{{{{.Image}}}}' {' '.join(names)} 2>/dev/null | sort -u | "
        "xargs -r docker image inspect 2>/dev/null "
        "--format '{{.Id}}\t{{range .RepoDigests}}{{.}} {{end}}'"
    )


# The root and Docker's data folder (images, volumes), often the same file system.
DISK_SNIPPET = (
    "d=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null) || d=/var/lib/docker; "
    'df -P -k / "$d" 2>/dev/null'
)
CERTIFICATES_SNIPPET = (
    f'for f in {paths.TLS_ROOT}/*/fullchain.pem; do [ -e "$f" ] || continue; '
    'n=${f%/fullchain.pem}; printf "%s\\t%s\\n" "${n##*/}" '
    '"$(openssl x509 -enddate -noout -in "$f" 2>/dev/null | cut -d= -f2)"; done'
)
ACTIONS_SNIPPET = (
    f"grep -E ' (ACTION|BREAKER OPEN|BACKOFF) ' {paths.HEALTH_LOG} 2>/dev/null "
    f"| tail -n {ACTIONS_SHOWN}"
)


@dataclass(frozen=True)
class Section:
    name: str
    snippet: str


def sections_for(placement: Placement) -> list[Section]:
    """The script's sections for this host: the core adds certificates and jicofo's stats."""
    services = services_at(placement)
    names = [container_name(service.name) for service in services]
    found = [
        Section("now", "date -u +%s"),
        Section("system", SYSTEM_SERVICES.command(None)),  # type: ignore[arg-type]
        Section("containers", _containers_snippet(names)),
        Section("digests", _digests_snippet(names)),
        Section("disk", DISK_SNIPPET),
        Section("memory", "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo"),
        Section("actions", ACTIONS_SNIPPET),
        Section("backup", f"tail -n 1 {paths.HOST_BACKUP_LOG} 2>/dev/null"),
    ]
    if placement.host.role == "core":
        found.append(Section("certificates", CERTIFICATES_SNIPPET))
    if JICOFO in services:
        found.append(Section("jicofo", _json_snippet(JICOFO_STATS_URL)))
        found.append(Section("brewery", _json_snippet(JICOFO_DEBUG_URL)))
    if COLLECTOR in services:
        collector = container_name(COLLECTOR.name)
        live = f"docker exec {collector} python3 -m collector live --json"
        found.append(Section("meetings", f'{live} 2>&1 || echo "exit $?"'))
    return found


def _json_snippet(url: str) -> str:
    # curl ends the JSON without a newline: the echo puts the next header on its own line.
    return f'curl -fsS --max-time 5 {url} 2>&1 || echo "exit $?"; echo'


def status_script(sections: list[Section]) -> str:
    return "".join(f"echo @@{s.name}\n{s.snippet}\n" for s in sections) + "echo @@end\n"


# --- parsers: captured output in, values out ------------------------------------------------------


def parse_now(lines: list[str]) -> int:
    return int(lines[0]) if lines and lines[0].strip().isdigit() else 0


def parse_time(text: str) -> int | None:
    """Docker's RFC 3339 time (nanoseconds, UTC) as epoch seconds; None for the zero time."""
    if not text or text.startswith("0001-"):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text[:19]).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return int(parsed.timestamp())


def parse_digests(lines: list[str]) -> dict[str, str]:
    """Image ID -> its first registry digest (`repo@sha256:...`), "" for a loaded image."""
    found = {}
    for line in lines:
        image_id, _, digests = line.partition("\t")
        found[image_id] = digests.split(" ")[0] if digests else ""
    return found


def _state(status: str, exit_code: str, restarts: int, uptime: int | None) -> str:
    if status == "restarting":
        return "restarting"
    if status == "running" and restarts and uptime is not None and uptime < RESTART_LOOP_SECONDS:
        return "restarting"
    if status == "exited":
        return f"exited({exit_code})"
    return status


def short_digest(digest: str) -> str:
    """The first 12 hex digits of a `sha256:` digest or `repo@sha256:` reference."""
    return digest.rpartition("sha256:")[2][:12]


def parse_container(
    service: Service, line: str, now: int, digests: dict[str, str]
) -> ServiceStatus:
    name = container_name(service.name)
    fields = line.split("\t")[1:]
    if len(fields) < 7:
        error = (fields[1] if len(fields) > 1 else "").strip() or "no answer"
        if "No such" in error:
            return ServiceStatus(service.name, name, "missing")
        return ServiceStatus(service.name, name, "unknown", detail=error[:120])
    status, health, started, restarts, image, image_id, exit_code = fields[:7]
    started_at = parse_time(started) if status in ("running", "restarting") else None
    uptime = max(0, now - started_at) if started_at is not None and now else None
    count = int(restarts) if restarts.isdigit() else 0
    repo_digest = digests.get(image_id, "")
    return ServiceStatus(
        service.name,
        name,
        _state(status, exit_code, count, uptime),
        health,
        image,
        short_digest(repo_digest) if repo_digest else f"id:{short_digest(image_id)}",
        image_id,
        uptime,
        count,
    )


def parse_containers(
    services: list[Service], lines: list[str], now: int, digests: dict[str, str]
) -> tuple[ServiceStatus, ...]:
    by_name = {line.split("\t", 1)[0]: line for line in lines}
    return tuple(
        parse_container(service, by_name.get(container_name(service.name), ""), now, digests)
        for service in services
    )


def parse_disks(lines: list[str]) -> tuple[Disk, ...]:
    """`df -P -k` lines, one per mount (the root and Docker's data may share one)."""
    found: dict[str, Disk] = {}  # by file system: the first mount that names it
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 6 and fields[1].isdigit() and fields[3].isdigit():
            mount = " ".join(fields[5:])
            disk = Disk(mount, int(fields[3]) * 1024, int(fields[1]) * 1024)
            found.setdefault(fields[0], disk)
    return tuple(found.values())


def parse_memory(lines: list[str]) -> Memory | None:
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        amount = rest.split()
        if amount and amount[0].isdigit():
            values[key] = int(amount[0]) * 1024
    if "MemTotal" not in values:
        return None
    return Memory(values.get("MemAvailable", 0), values["MemTotal"])


def parse_certificates(lines: list[str], now: int) -> tuple[Certificate, ...]:
    """`name<TAB>notAfter` as openssl prints it, e.g. `Mar  4 12:00:00 2027 GMT`."""
    found = []
    for line in lines:
        name, _, not_after = line.partition("\t")
        try:
            end = datetime.datetime.strptime(not_after.strip(), "%b %d %H:%M:%S %Y %Z")
            days = int(end.replace(tzinfo=datetime.UTC).timestamp() - now) // 86400
        except ValueError:
            days = None
        found.append(Certificate(name, days))
    return tuple(found)


def parse_jicofo(
    stats_lines: list[str], debug_lines: list[str], expected: tuple[str, ...] = ()
) -> Jicofo:
    """jicofo's /stats and /debug answers (each: the JSON, or curl's message and "exit N")."""
    answers = []
    for path, lines in (("/stats", stats_lines), ("/debug", debug_lines)):
        if not lines or lines[-1].startswith("exit "):  # curl failed: its message, its status
            return Jicofo(
                error=f"{path} did not answer ({' '.join(lines[:-1])[:160] or 'nothing'})"
            )
        answers.append("\n".join(lines))
    try:
        stats, brewery = json.loads(answers[0]), parse_debug(answers[1])
    except ValueError as error:
        return Jicofo(error=f"unreadable: {error}")
    counts = (_count(stats, "conferences"), _count(stats, "participants"))
    return Jicofo(
        brewery.operational, *counts, expected_bridges=expected, draining=brewery.draining
    )


def _count(stats: dict[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return value if isinstance(value, int) else None


def parse_meetings(lines: list[str], now: int) -> Meetings:
    """The collector's `live --json`, or its message and "exit N"."""
    text = "\n".join(lines)
    try:
        found = json.loads(text)
        live = tuple(
            LiveMeeting(
                m["room"],
                int(m["participants"]),
                int(m["peak"]),
                int(m["started"]),
                max(0, now - int(m["started"])),
            )
            for m in found
        )
    except (ValueError, TypeError, KeyError):
        return Meetings(error=" ".join(text.split())[-300:] or "no answer")
    return Meetings(live)


def parse_system(lines: list[str]) -> dict[str, str]:
    """docker, nginx and the cron daemon (cron on Debian, crond on RHEL: whichever exists)."""
    states = parse_states(lines)
    cron = "crond" if states.get("crond") == "active" else "cron"
    return {unit: states.get(unit, "unknown") for unit in ("docker", "nginx", cron)}


# --- the model -----------------------------------------------------------------------------------


def host_status(placement: Placement, output: str) -> HostStatus:
    """The model of one host from the whole output of its status script."""
    sections = split_sections(output)

    def get(name: str) -> list[str]:
        return sections.get(name, [])

    now = parse_now(get("now"))
    host = placement.host
    return HostStatus(
        host.name,
        host.role,
        system=parse_system(get("system")),
        services=parse_containers(
            services_at(placement), get("containers"), now, parse_digests(get("digests"))
        ),
        certificates=parse_certificates(get("certificates"), now),
        disks=parse_disks(get("disk")),
        memory=parse_memory(get("memory")),
        jicofo=(
            parse_jicofo(get("jicofo"), get("brewery"), expected_bridges(placement))
            if "jicofo" in sections
            else None
        ),
        actions=tuple(get("actions")),
        backup="".join(get("backup")),
        meetings=parse_meetings(get("meetings"), now) if "meetings" in sections else None,
    )


def failed(placement: Placement, error: str, reachable: bool = True) -> HostStatus:
    return HostStatus(placement.host.name, placement.host.role, error, reachable)


# --- reading every host ---------------------------------------------------------------------------


def read_host(placement: Placement, options: Options) -> HostStatus:
    """One host's status in one round trip; an unreachable host is a status with its error."""
    host = placement.host
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        script = status_script(sections_for(placement))
        return host_status(placement, remote.run_script(script, timeout=SCRIPT_TIMEOUT).stdout)
    except ConnectError as error:
        return failed(placement, str(error), reachable=False)
    except DeployError as error:  # reached, but sudo was refused or the script hung
        return failed(placement, str(error))
    finally:
        remote.close()


def read_status(deployment: Deployment, hosts: list[Host], options: Options) -> list[HostStatus]:
    """Every host in parallel, in the order given."""
    return run_all(hosts, lambda host: read_host(placement_of(deployment, host), options))
