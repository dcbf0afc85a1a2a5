"""ENABLE_MEETING_HISTORY=1 on the example site, without a server: what the compose file gives
Redis and the collector, what Prosody loads, what bad settings and options get; and the
collector's own pure parts (its event checks, its report). tests/prosody/test_meeting_history.py
runs all of it for real."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from jitsi_deploy.collector import report
from jitsi_deploy.collector.events import BadEvent, Meeting, parse_batch
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model import paths
from jitsi_deploy.model.services import COLLECTOR_IMAGE
from jitsi_deploy.operations.report import history_core, report_arguments
from jitsi_deploy.operations.status import HostStatus, Meetings, parse_meetings
from jitsi_deploy.operations.status_views import host_lines
from jitsi_deploy.steps.images import fetched_images, wanted_images
from tests.unit.sites import fab, rendered, site_with

EVENTS_MODULE = f"{paths.PROSODY_PLUGINS_DIR}/mod_meeting_events.lua"
EVENTS_SETTINGS = f"{paths.PROSODY_CONF_D}/meeting-events.cfg.lua"
UTC = datetime.UTC


def core(tmp_path: Path, enabled: str = "1"):
    deployment = site_with(tmp_path, ENABLE_POSTGRES="1", ENABLE_MEETING_HISTORY=enabled)
    return rendered(deployment, "meet.example.org")


def services(files) -> dict:
    return yaml.safe_load(files.file(paths.COMPOSE_FILE).content)["services"]


def test_redis_gets_its_password_from_the_environment_and_keeps_nothing(tmp_path: Path) -> None:
    files = core(tmp_path)
    redis = services(files)["redis"]
    password = files.site.secrets["REDIS_PASSWORD"]
    assert password not in files.file(paths.COMPOSE_FILE).content.decode()
    assert f"REDIS_PASSWORD={password}" in files.file(paths.COMPOSE_ENV).content.decode()
    assert redis["environment"]["REDIS_PASSWORD"] == "${REDIS_PASSWORD}"
    script = redis["command"][2]
    assert "requirepass $$REDIS_PASSWORD" in script and 'save ""' in script
    assert "ports" not in redis and "volumes" not in redis
    assert redis["image"] == "redis:8"


def test_the_collector_runs_unprivileged_with_its_code_read_only(tmp_path: Path) -> None:
    files = core(tmp_path)
    collector = services(files)["collector"]
    assert collector["read_only"] is True and collector["cap_drop"] == ["ALL"]
    assert collector["security_opt"] == ["no-new-privileges:true"]
    assert collector["volumes"] == [f"{paths.CONFIG_DIR}/collector:/app:ro"]
    assert "ports" not in collector
    assert collector["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    code = {f.path: f for f in files.files if f.path.startswith(f"{paths.CONFIG_DIR}/collector/")}
    assert f"{paths.CONFIG_DIR}/collector/collector/migrations/001_meetings.sql" in code
    assert all(f.owner == "root" and f.mode == 0o644 for f in code.values())


def test_the_host_builds_the_collector_on_the_fetched_debian_image(tmp_path: Path) -> None:
    files = core(tmp_path)
    assert "debian:trixie-slim" in fetched_images(files) and "redis:8" in fetched_images(files)
    assert f"{COLLECTOR_IMAGE}:trixie-slim" in wanted_images(files)
    assert f"{COLLECTOR_IMAGE}:trixie-slim" not in fetched_images(files)


def test_prosody_loads_the_events_module_only_with_the_history_on(tmp_path: Path) -> None:
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    on = core(tmp_path / "on")
    assert services(on)["prosody"]["environment"]["XMPP_MUC_MODULES"] == (
        "room_policy,meeting_events"
    )
    settings = on.file(EVENTS_SETTINGS).content.decode()
    assert 'meeting_events_url = "http://collector:8000/events"' in settings
    # The token the collector wants, from the environment both containers get it in.
    assert "meeting_events_token = ENV_COLLECTOR_TOKEN" in settings
    token = on.site.secrets["COLLECTOR_TOKEN"]
    assert token not in settings and token not in on.file(paths.COMPOSE_FILE).content.decode()
    for name in ("prosody", "collector"):
        assert services(on)[name]["environment"]["COLLECTOR_TOKEN"] == "${COLLECTOR_TOKEN}"
    off = core(tmp_path / "off", "0")
    assert services(off)["prosody"]["environment"]["XMPP_MUC_MODULES"] == "room_policy"
    assert {"redis", "collector"}.isdisjoint(services(off))
    assert {EVENTS_MODULE, EVENTS_SETTINGS} <= {a.path for a in off.absent}


def test_the_history_without_postgresql_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("[core]\nmeet.example.org address=203.0.113.10\n")
    env = (Path(__file__).parents[2] / ".env.example").read_text()
    on = env.replace("ENABLE_MEETING_HISTORY=0", "ENABLE_MEETING_HISTORY=1")
    (tmp_path / ".env").write_text(on)
    done = fab(tmp_path, "report")
    assert done.returncode != 0
    assert "ENABLE_MEETING_HISTORY: 1 needs PostgreSQL" in done.stderr
    assert "Set ENABLE_POSTGRES=1 too" in done.stderr


def test_report_options_are_checked_before_any_host(tmp_path: Path) -> None:
    assert report_arguments("2026-12-01", "Daily-Standup", True) == [
        "report", "--since", "2026-12-01", "--room", "daily-standup", "--csv",
    ]  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        report_arguments("12/01/2026", "two words", False)
    assert [p.source for p in refused.value.problems] == ["--since", "--room"]
    off = site_with(tmp_path, ENABLE_MEETING_HISTORY="0")
    with pytest.raises(ConfigError, match="Set ENABLE_MEETING_HISTORY=1"):
        history_core(off)


def test_status_reads_the_live_meetings_or_says_why_not() -> None:
    lines = ['[{"room": "standup", "participants": 3, "peak": 4, "started": 1000}]']
    (meeting,) = parse_meetings(lines, now=1600).live
    assert (meeting.room, meeting.participants, meeting.peak, meeting.seconds) == (
        "standup", 3, 4, 600,
    )  # fmt: skip
    broken = parse_meetings(["Error response from daemon: No such container", "exit 1"], 0)
    assert broken.error.startswith("Error response") and not broken.live

    lines = host_lines(HostStatus("meet.example.org", "core", meetings=Meetings((meeting,))))
    assert "  meetings: 1 in progress: standup 3 (peak 4, 10 min)" in lines
    failing = HostStatus("meet.example.org", "core", meetings=broken)
    assert failing.problems == [f"meeting history: {broken.error}"]


MEETING = {
    "id": "0b9c5d3e-8f1a-4b7c-9d2e-3f4a5b6c7d8e",
    "room": "standup",
    "started": 1_765_000_000.25,
    "participants": 2,
    "peak": 3,
}


def test_the_collector_takes_what_the_module_sends() -> None:
    events = parse_batch(
        {"events": [{"type": "joined", "at": 1_765_000_100, "meeting": MEETING},
                    {"type": "live", "at": 1_765_000_130, "meetings": [MEETING]}]}
    )  # fmt: skip
    assert events[0].meeting == Meeting(
        MEETING["id"], "standup", datetime.datetime.fromtimestamp(1_765_000_000.25, UTC), 2, 3
    )
    assert events[1].live == (events[0].meeting,)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "not-a-uuid"}, "a UUID"),
        ({"participants": 4}, "peak is at least"),
        ({"participants": True}, "whole numbers"),
        ({"room": ""}, "1 to 1023 bytes"),
        ({"started": "yesterday"}, "unix seconds"),
    ],
)
def test_the_collector_refuses_what_the_module_never_sends(change: dict, message: str) -> None:
    with pytest.raises(BadEvent, match=message):
        parse_batch({"events": [{"type": "left", "at": 1, "meeting": {**MEETING, **change}}]})


def test_the_report_sums_per_day_and_per_room() -> None:
    def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
        return datetime.datetime(2026, 3, day, hour, minute, tzinfo=UTC)

    rows = [
        ("board", at(1, 9), at(1, 10), 5),
        ("standup", at(1, 10), at(1, 10, 15), 8),
        ("standup", at(2, 10), at(2, 10, 45), 6),
    ]
    text = report.history_text(rows, "title")
    assert "2026-03-01  2         1:15:00  0:37:30  1:00:00  8" in text
    assert "standup  2         1:00:00  0:30:00  0:45:00  8" in text
    assert report.history_csv(rows).splitlines()[1] == (
        "board,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,5"
    )
    assert report.history_text([], "title") == "title\nno finished meeting\n"
