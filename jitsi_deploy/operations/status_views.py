"""The two views of `fab status`: a table for people, JSON for scripts, both from the same
HostStatus models (operations/status.py), so they cannot say different things."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .status import HostStatus, ServiceStatus

COLUMNS = ("HOST / SERVICE", "STATE", "HEALTH", "IMAGE", "DIGEST", "UP", "RESTARTS")
WIDTHS = (22, 12, 10, 26, 16, 9, 8)


def service_cells(service: ServiceStatus) -> tuple[str, ...]:
    """The table's cells of one service, in COLUMNS order."""
    return (
        f"  {service.name}",
        service.state,
        service.health or "-",
        service.image.rpartition("/")[2] or "-",
        service.digest or "-",
        duration(service.uptime_seconds),
        "-" if service.restarts is None else str(service.restarts),
    )


def row(cells: tuple[str, ...]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, WIDTHS, strict=False)]
    return " ".join([*padded[:-1], cells[-1]]).rstrip()


def duration(seconds: int | None) -> str:
    """`2d04h`, `3h12m`, `5m10s`, `12s`; `-` when not running. One word, as every cell, so
    that scripts may split a row on spaces."""
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def size(amount: int) -> str:
    return f"{amount / 2**30:.1f} GiB"


def host_lines(status: HostStatus) -> list[str]:
    """A host's block: its line, a row per service, then what the host says about itself."""
    title = f"{status.host} ({status.role})"
    if status.error:
        word = "UNREACHABLE" if not status.reachable else "ERROR"
        return [row((title, word, status.error.replace("\n", " ")))]
    lines = [title, *(row(service_cells(s)) for s in status.services)]
    # Labels end in ':' so that the jicofo line never reads as the jicofo service's row.
    lines += [f"  {label + ':':<9} {text}" for label, text in _facts(status) if text]
    lines += [f"  {'PROBLEM:':<9} {problem}" for problem in status.problems]
    return lines


def _facts(status: HostStatus) -> list[tuple[str, str]]:
    return [
        ("system", ", ".join(f"{unit} {state}" for unit, state in status.system.items())),
        (
            "disk",
            "; ".join(
                f"{d.mount} {size(d.free_bytes)} free of {size(d.size_bytes)}" for d in status.disks
            ),
        ),
        ("memory", _memory(status)),
        ("cert", ", ".join(f"{c.name} {_days(c.days_left)}" for c in status.certificates)),
        ("jicofo", _jicofo(status)),
        ("meetings", _meetings(status)),
        *(("health", action) for action in status.actions),
        ("backup", status.backup),
    ]


def _memory(status: HostStatus) -> str:
    memory = status.memory
    if memory is None:
        return ""
    return f"{size(memory.available_bytes)} available of {size(memory.total_bytes)}"


def _days(days: int | None) -> str:
    return "unreadable" if days is None else f"{days} days left"


def _jicofo(status: HostStatus) -> str:
    jicofo = status.jicofo
    if jicofo is None or jicofo.error:
        return jicofo.error if jicofo else ""
    bridges = jicofo.brewery.describe()
    counts = ((jicofo.conferences, "conferences"), (jicofo.participants, "participants"))
    said = [f"{value} {word}" for value, word in counts if value is not None]
    return "; ".join(filter(None, (f"bridges {bridges}", ", ".join(said))))


def _meetings(status: HostStatus) -> str:
    meetings = status.meetings
    if meetings is None or meetings.error:
        return ""  # an error is among the problems
    if not meetings.live:
        return "none in progress"
    rooms = (
        f"{m.room} {m.participants} (peak {m.peak}, {m.seconds // 60} min)" for m in meetings.live
    )
    return f"{len(meetings.live)} in progress: " + ", ".join(rooms)


def table(statuses: list[HostStatus]) -> str:
    lines = [row(COLUMNS)]
    for status in statuses:
        lines += host_lines(status)
    failing = [s for s in statuses if not s.ok]
    if failing:
        names = ", ".join(s.host for s in failing)
        lines.append(f"{len(failing)} of {len(statuses)} hosts need attention: {names}.")
    else:
        lines.append(f"all {len(statuses)} hosts OK.")
    return "\n".join(lines)


def as_dict(status: HostStatus) -> dict[str, Any]:
    data = asdict(status)
    data["ok"], data["problems"] = status.ok, status.problems
    for service, model in zip(data["services"], status.services, strict=True):
        service["problem"] = model.problem
    return data


def as_json(statuses: list[HostStatus]) -> str:
    hosts = [as_dict(status) for status in statuses]
    return json.dumps({"ok": all(s.ok for s in statuses), "hosts": hosts}, indent=2)
