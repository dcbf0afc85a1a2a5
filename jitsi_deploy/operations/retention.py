"""The local backup folder: one subfolder per host, archives named by their UTC time, and which
of them a retention of N daily and M weekly archives keeps."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone  # not 3.11's UTC: see pyproject's per-file ignores
from pathlib import Path

from ..errors import ConfigError, Problem

STAMP = "%Y%m%dT%H%M%SZ"
SUFFIX = ".tar.gz"
ENCRYPTED_SUFFIX = ".tar.gz.age"
_NAME = re.compile(r"(?P<host>.+)-(?P<stamp>\d{8}T\d{6}Z)\.tar\.gz(\.age)?")


@dataclass(frozen=True)
class Retention:
    daily: int
    weekly: int

    def check(self) -> None:
        problems = [
            Problem(f"--keep-{name}", str(value), "must be a whole number from 0 to 1000.")
            for name, value in (("daily", self.daily), ("weekly", self.weekly))
            if not 0 <= value <= 1000
        ]
        if not problems and self.daily + self.weekly == 0:
            problems.append(Problem("--keep-daily", "0", "with --keep-weekly 0 nothing is kept."))
        if problems:
            raise ConfigError(problems)


def archive_path(folder: Path, host: str, when: datetime, encrypted: bool) -> Path:
    suffix = ENCRYPTED_SUFFIX if encrypted else SUFFIX
    return folder / host / f"{host}-{when.astimezone(timezone.utc).strftime(STAMP)}{suffix}"


def archives(folder: Path, host: str) -> dict[Path, datetime]:
    """This host's archives in its folder and when each was made (other files are ignored)."""
    found = {}
    for path in (folder / host).glob(f"{host}-*"):
        match = _NAME.fullmatch(path.name)
        if match and match["host"] == host and path.is_file():
            found[path] = datetime.strptime(match["stamp"], STAMP).replace(tzinfo=timezone.utc)
    return found


def kept(times: Iterable[datetime], retention: Retention) -> set[datetime]:
    """The newest archive of each of the ``daily`` latest days that have one, and of each of
    the ``weekly`` latest ISO weeks that have one."""
    newest_first = sorted(set(times), reverse=True)
    keep: set[datetime] = set()
    for period, count in ((_day, retention.daily), (_week, retention.weekly)):
        seen: list[tuple[int, ...]] = []
        for when in newest_first:
            key = period(when)
            if key not in seen:
                if len(seen) == count:
                    break
                seen.append(key)
                keep.add(when)
    return keep


def _day(when: datetime) -> tuple[int, ...]:
    return (when.year, when.month, when.day)


def _week(when: datetime) -> tuple[int, ...]:
    year, week, _ = when.isocalendar()
    return (year, week)


def prune(folder: Path, host: str, retention: Retention) -> list[Path]:
    """Remove the host's archives the retention does not keep; return them."""
    found = archives(folder, host)
    keep = kept(found.values(), retention)
    removed = sorted(path for path, when in found.items() if when not in keep)
    for path in removed:
        path.unlink()
    return removed
