"""Which archives a retention of N daily and M weekly keeps, and what pruning removes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations.retention import Retention, archive_path, archives, kept, prune

# Thursday 2026-12-03, 02:00 UTC: one nightly archive a day for 60 days back.
LAST = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
NIGHTLY = [LAST - timedelta(days=day) for day in range(60)]


def test_the_latest_days_and_the_newest_of_each_latest_week_are_kept() -> None:
    keep = kept(NIGHTLY, Retention(daily=7, weekly=4))
    assert {t for t in keep if t > LAST - timedelta(days=7)} == set(NIGHTLY[:7])
    older = sorted(t for t in keep if t <= LAST - timedelta(days=7))
    # Weeks: this week (Mon 30 Nov - Thu 3 Dec, newest kept among the daily ones), then the
    # Sundays ending the three weeks before.
    assert [t.date().isoformat() for t in older] == ["2026-11-15", "2026-11-22"]
    assert len(keep) == 9


def test_of_several_archives_a_day_the_newest_is_kept() -> None:
    times = [LAST, LAST - timedelta(hours=1), LAST - timedelta(days=1)]
    assert kept(times, Retention(daily=2, weekly=0)) == {LAST, LAST - timedelta(days=1)}


def test_a_retention_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(ConfigError, match="nothing is kept"):
        Retention(0, 0).check()
    with pytest.raises(ConfigError, match="--keep-weekly"):
        Retention(1, -1).check()


def test_prune_removes_only_this_hosts_archives_that_are_not_kept(tmp_path: Path) -> None:
    for when in NIGHTLY[:10]:
        path = archive_path(tmp_path, "meet.example.org", when, encrypted=when.day % 2 == 0)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    other = tmp_path / "meet.example.org" / "notes.txt"
    other.write_text("mine")
    removed = prune(tmp_path, "meet.example.org", Retention(daily=3, weekly=0))
    assert len(removed) == 7 and other.exists()
    assert sorted(archives(tmp_path, "meet.example.org").values()) == sorted(NIGHTLY[:3])
