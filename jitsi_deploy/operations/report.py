"""`fab report`: the meeting history, read on the core host by the collector itself
(jitsi_deploy/collector/__main__.py), which knows the database and prints text or CSV."""

from __future__ import annotations

import datetime
import re
import shlex

from ..deploy.host import Options
from ..errors import ConfigError, DeployError, Problem
from ..model.services import COLLECTOR, container_name, placement_of
from ..remote.transport import Remote
from ..settings.inventory import Host
from ..settings.site import Deployment

# What a room's name may be (templates/prosody/mod_room_policy.lua: canonical names only).
_ROOM = re.compile(r"(\[[A-Za-z0-9._-]+\])?[A-Za-z0-9._-]{1,200}")


def report_arguments(since: str, room: str, csv: bool) -> list[str]:
    """The collector's arguments; bad input is refused here, before any host is reached."""
    problems = []
    arguments = ["report"]
    if since:
        try:
            datetime.date.fromisoformat(since)
        except ValueError:
            problems.append(Problem("--since", since, "is not a date. Write YYYY-MM-DD (UTC)."))
        arguments += ["--since", since]
    if room:
        if not _ROOM.fullmatch(room):
            problems.append(
                Problem("--room", room, "is not a room name: letters, digits, '.', '_', '-'.")
            )
        arguments += ["--room", room.lower()]
    if problems:
        raise ConfigError(problems)
    return arguments + (["--csv"] if csv else [])


def history_core(deployment: Deployment) -> Host:
    """The core host, which keeps the history; refused where it keeps none."""
    core = deployment.core
    if core is None or not COLLECTOR.runs_on(placement_of(deployment, core)):
        raise ConfigError(
            [
                Problem(
                    "settings",
                    "ENABLE_MEETING_HISTORY",
                    "is off, so no host keeps a meeting history. Set ENABLE_MEETING_HISTORY=1 "
                    "(with ENABLE_POSTGRES=1) and deploy; meetings from then on are recorded.",
                )
            ]
        )
    return core


def read_report(host: Host, options: Options, arguments: list[str]) -> str:
    """The collector's report, as it printed it."""
    command = ["docker", "exec", container_name(COLLECTOR.name), "python3", "-m", "collector"]
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        output = remote.run_script(shlex.join([*command, *arguments]))
    finally:
        remote.close()
    if output.exit_code != 0:
        raise DeployError(f"{host.name}: the collector could not report: {output.stderr.strip()}")
    return output.stdout
