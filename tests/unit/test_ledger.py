"""`invoke bench` prints each figure beside the previous run's and keeps the new ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.ledger import show


def test_figures_show_beside_the_previous_run_and_replace_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    show("start-up", {"fab --list (s)": 0.412}, results)
    assert capsys.readouterr().out.splitlines()[-1].split() == [
        "fab",
        "--list",
        "(s)",
        "0.412",
        "-",
    ]
    show("start-up", {"fab --list (s)": 0.2}, results)
    assert capsys.readouterr().out.splitlines()[-1].split()[-2:] == ["0.200", "0.412"]
    assert json.loads(results.read_text()) == {"start-up": {"fab --list (s)": 0.2}}


def test_a_run_that_measures_part_of_a_section_keeps_the_rest(tmp_path: Path) -> None:
    """`invoke bench --hosts 1` must not erase the 5-host figures of an earlier run."""
    results = tmp_path / "results.json"
    show("deploy", {"5 hosts (s)": 1.0, "1 host (s)": 0.5}, results)
    show("deploy", {"1 host (s)": 0.4}, results)
    assert json.loads(results.read_text()) == {"deploy": {"5 hosts (s)": 1.0, "1 host (s)": 0.4}}
