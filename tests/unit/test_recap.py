"""The recap: a line per host in words, one summary line, and the same as JSON."""

from __future__ import annotations

import json

import pytest

from jitsi_deploy.deploy import recap
from jitsi_deploy.deploy.host import HostReport
from jitsi_deploy.deploy.runner import Outcome
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change


def host(name: str) -> Host:
    return Host(name, "jvb", "203.0.113.10", "203.0.113.10")


KERNEL = Change("handlers", "apply kernel settings", (), explain=lambda out: "meetings still work")
CHANGED = HostReport(
    host("changed.example.org"),
    outcomes=[
        Outcome(Change("files", "update /etc/x", ()), "changed"),
        Outcome(KERNEL, "warning", "sysctl: cannot stat /proc/sys/net/core/x"),
    ],
    round_trips=1,
    seconds=2.0,
)
UNCHANGED = HostReport(host("same.example.org"), round_trips=2, seconds=0.5)
FAILED = HostReport(host("down.example.org"), error="cannot connect", seconds=10.0)


def test_the_table_speaks_in_words_and_ends_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not recap.print_recap([CHANGED, UNCHANGED, FAILED], False, 12.34)
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "  changed.example.org      changed 1, 1 warning  (1 round trip, 2.0s)"
    assert lines[3] == "      warning: apply kernel settings: meetings still work"
    assert lines[4] == "  same.example.org         unchanged: nothing to do  (2 round trips, 0.5s)"
    assert lines[-1] == "3 hosts: 1 changed, 1 unchanged, 1 failed, in 12.3s."


def test_the_json_says_what_the_table_says() -> None:
    document = json.loads(recap.as_json([CHANGED, UNCHANGED, FAILED], False, 12.34))
    assert document["ok"] is False and document["summary"].startswith("3 hosts: 1 changed")
    assert [(h["host"], h["status"]) for h in document["hosts"]] == [
        ("changed.example.org", "changed"),
        ("same.example.org", "unchanged"),
        ("down.example.org", "failed"),
    ]
    assert document["hosts"][0]["warnings"] == ["apply kernel settings: meetings still work"]
    assert document["hosts"][2]["error"] == "cannot connect"


def test_check_mode_counts_hosts_with_changes_to_make() -> None:
    planned = HostReport(host("plan.example.org"), planned=[Change("files", "update /x", ())])
    line = recap.summary([planned, UNCHANGED], True, 1.0)
    assert line == "2 hosts: 1 to change, 1 unchanged, 0 failed, in 1.0s."
