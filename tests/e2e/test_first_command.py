"""The README's first command, word for word, on fresh Debian 12 and 13 servers, as a newcomer
runs it: a user without root or sudo, in a copy of the checkout, on a stock image with only
python3-venv added (Debian refuses pip installs into the system Python, PEP 668). Both hosts
at once; pip reaches the index with this machine's pip settings (tests/rig/pipconf.py).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.e2e.readme import REPO, fresh_machine_commands, fresh_machine_section
from tests.rig.hosts import TestHost, host_exec
from tests.rig.pipconf import mirror_pip_settings

pytestmark = pytest.mark.slow

SUITES = ("bookworm", "trixie")
USER = "nosudo"
CHECKOUT = f"/home/{USER}/jitsi-deploy"
ACTIVATE = ". .venv/bin/activate"
COMPOSE_FILE = "build/meet.example.org/opt/jitsi-meet/docker-compose.yml"


@dataclass
class FirstRun:
    host: TestHost
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


@pytest.fixture(scope="module")
def first_runs(make_host) -> dict[str, FirstRun]:
    command = fresh_machine_commands()[0]
    archive = checkout_archive()

    def run(suite: str) -> FirstRun:
        host = make_host(suite)
        prepare(host, archive)
        started = time.monotonic()
        result = as_newcomer(host, command)
        return FirstRun(host, result, time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=len(SUITES)) as pool:
        runs = list(pool.map(run, SUITES))
    return {run.host.suite: run for run in runs}


def checkout_archive() -> bytes:
    """This checkout as a newcomer gets it: tracked and new files, nothing git ignores (no .venv,
    no build/), the working tree's content rather than the last commit's."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in sorted(set(listing.split("\0"))):
            path = REPO / name
            if name and (path.is_file() or path.is_symlink()):
                tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def prepare(host: TestHost, archive: bytes) -> None:
    """What the README asks for beforehand (python3-venv), pip's settings, the checkout."""
    install = "apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null"
    done = host_exec(host, "sh", "-c", f"DEBIAN_FRONTEND=noninteractive {install}")
    assert done.returncode == 0, done.stderr
    mirror_pip_settings(host)
    unpack = f"mkdir -p {CHECKOUT} && tar -x -C {CHECKOUT}"
    subprocess.run(
        ["docker", "exec", "-i", "-u", USER, host.name, "sh", "-c", unpack],
        input=archive, capture_output=True, check=True,
    )  # fmt: skip


def as_newcomer(host: TestHost, command: str) -> subprocess.CompletedProcess[str]:
    """`command` in the checkout, in a login shell of the user (its own clean environment)."""
    return host_exec(host, "runuser", "-l", USER, "-c", f"cd {CHECKOUT} && {command}")


@pytest.mark.parametrize("suite", SUITES)
def test_the_first_command_renders_the_example(first_runs: dict[str, FirstRun], suite) -> None:
    run = first_runs[suite]
    print(f"{suite}: the first command took {run.seconds:.1f} s")
    assert run.result.returncode == 0, run.output
    assert "meet.example.org (core):" in run.result.stdout, run.output
    assert host_exec(run.host, "test", "-s", f"{CHECKOUT}/{COMPOSE_FILE}").returncode == 0
    # The validators this stock host lacks are skipped and named, not failures.
    assert "skipped  compose config" in run.result.stdout, run.output


@pytest.mark.parametrize("suite", SUITES)
def test_invoke_and_fab_are_on_path_after_activating(first_runs: dict[str, FirstRun], suite):
    assert f"`{ACTIVATE}`" in fresh_machine_section()
    run = first_runs[suite]
    listed = as_newcomer(run.host, f"{ACTIVATE} && invoke --list && fab --list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "render" in listed.stdout and "deploy" in listed.stdout


@pytest.mark.parametrize("suite", SUITES)
def test_the_first_command_runs_again(first_runs: dict[str, FirstRun], suite) -> None:
    run = first_runs[suite]
    again = as_newcomer(run.host, fresh_machine_commands()[0])
    assert again.returncode == 0, again.stdout + again.stderr
