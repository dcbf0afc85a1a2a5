"""The README's two commands and what they rely on stay in step: the dependency lists in
requirements*.txt and pyproject.toml, CI running the README's test command, the ignored venv."""

from __future__ import annotations

import re
import tomllib

from tests.e2e.readme import REPO, fresh_machine_commands


def requirements(name: str) -> list[str]:
    """The requirement lines of a requirements file, without comments and `-r` includes."""
    lines = (line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines())
    return [normalized(line) for line in lines if line and not line.startswith("-")]


def normalized(requirement: str) -> str:
    """`Python_Dotenv >= 1.0` and `python-dotenv>=1.0` are the same requirement."""
    requirement = requirement.replace(" ", "")
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group()).lower() + requirement[name.end() :]


def test_requirements_files_and_pyproject_list_the_same_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirements("requirements.txt") == [normalized(r) for r in project["dependencies"]]
    dev = project["optional-dependencies"]["dev"]
    assert requirements("requirements-dev.txt") == [normalized(r) for r in dev]
    assert "-r requirements.txt" in (REPO / "requirements-dev.txt").read_text().splitlines()


def test_ci_runs_the_readmes_test_command_word_for_word() -> None:
    test_command = fresh_machine_commands()[1]
    lines = (REPO / ".ci/run").read_text().splitlines()
    steps = [line for line in lines if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert steps == [test_command]


def test_the_commands_use_the_venv_that_git_ignores() -> None:
    first, second = fresh_machine_commands()
    assert first.startswith("python3 -m venv .venv && ")
    assert second.endswith(" && .venv/bin/invoke test")
    assert ".venv/" in (REPO / ".gitignore").read_text().splitlines()
