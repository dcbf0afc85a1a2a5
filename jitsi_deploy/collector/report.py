"""`fab report` and `fab status` as text: the history per day and per room, the meetings in
progress, or the history's rows as CSV. Times are UTC; durations h:mm:ss."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .events import Meeting

Row = tuple[str, datetime, datetime, int]  # room, started, ended, peak


@dataclass
class Totals:
    meetings: int = 0
    total: timedelta = field(default_factory=timedelta)
    longest: timedelta = field(default_factory=timedelta)
    peak: int = 0

    def add(self, started: datetime, ended: datetime, peak: int) -> None:
        self.meetings += 1
        self.total += ended - started
        self.longest = max(self.longest, ended - started)
        self.peak = max(self.peak, peak)


def history_text(rows: Sequence[Row], title: str) -> str:
    if not rows:
        return f"{title}\nno finished meeting\n"
    days: dict[str, Totals] = defaultdict(Totals)
    rooms: dict[str, Totals] = defaultdict(Totals)
    for room, started, ended, peak in rows:
        days[started.strftime("%Y-%m-%d")].add(started, ended, peak)
        rooms[room].add(started, ended, peak)
    return "\n".join([title, "", _table("DAY", days), "", _table("ROOM", rooms), ""])


def _table(heading: str, groups: dict[str, Totals]) -> str:
    lines = [(heading, "MEETINGS", "TOTAL", "AVERAGE", "LONGEST", "PEAK")]
    for name in sorted(groups):
        t = groups[name]
        average = t.total / t.meetings
        lines.append(
            (name, str(t.meetings), _hms(t.total), _hms(average), _hms(t.longest), str(t.peak))
        )
    return _columns(lines)


def history_csv(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("room", "started", "ended", "duration_seconds", "peak_participants"))
    for room, started, ended, peak in rows:
        seconds = int((ended - started).total_seconds())
        writer.writerow((room, _iso(started), _iso(ended), seconds, peak))
    return out.getvalue()


def live_text(meetings: Sequence[Meeting], now: datetime) -> str:
    if not meetings:
        return "no meeting in progress\n"
    lines = [("ROOM", "PARTICIPANTS", "PEAK", "SINCE", "FOR")]
    for m in meetings:
        since = _iso(m.started)
        lines.append((m.room, str(m.participants), str(m.peak), since, _hms(now - m.started)))
    return _columns(lines) + "\n"


def live_json(meetings: Sequence[Meeting]) -> str:
    """For `fab status`: room, counts and start (unix seconds) of each meeting in progress."""
    return json.dumps(
        [
            {
                "room": m.room,
                "participants": m.participants,
                "peak": m.peak,
                "started": int(m.started.timestamp()),
            }
            for m in meetings
        ]
    )


def _columns(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _hms(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
