"""The README's command table names only options the tasks have: each row's `--flag` is looked
up among the arguments Invoke builds the task's `--help` from (Fabric's own `-H` aside)."""

from __future__ import annotations

import re

import pytest
from invoke import Collection

import fabfile
import tasks
from tests.e2e.readme import REPO

PROGRAMS = {"fab": Collection.from_module(fabfile), "invoke": Collection.from_module(tasks)}
CORE_FLAGS = {"-H"}  # Fabric's: the hosts


def command_cells() -> list[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `((?:fab|invoke) [^`]+)` \|", table, re.M)


def test_the_table_lists_every_task() -> None:
    named = {tuple(cell.split()[:2]) for cell in command_cells()}
    for program, collection in PROGRAMS.items():
        assert {(program, name) for name in collection.task_names} <= named


@pytest.mark.parametrize("cell", command_cells())
def test_each_flag_shown_exists(cell: str) -> None:
    program, name, *rest = cell.split()
    task = PROGRAMS[program][name]
    flags = {
        f"-{n}" if len(n) == 1 else f"--{n}"
        for argument in task.get_arguments()
        for n in (n.replace("_", "-") for n in argument.names)
    }
    shown = set(re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", " ".join(rest)))
    assert shown - CORE_FLAGS <= flags, (
        f"{cell}: {sorted(shown - CORE_FLAGS - flags)} not in {sorted(flags)}"
    )


def test_fab_tasks_take_long_options_only() -> None:
    """No short letters of their own: Invoke's would differ from task to task, and -i is
    Fabric's identity file before the task name."""
    for name in PROGRAMS["fab"].task_names:
        for argument in PROGRAMS["fab"][name].get_arguments():
            assert all(len(n) > 1 for n in argument.names), (name, argument.names)
