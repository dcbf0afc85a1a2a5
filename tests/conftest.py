"""Shared pytest glue: markers and the test-host factory of the Docker test rig."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.rig.hosts import TestHost, start_host, stop_hosts

MakeHost = Callable[..., TestHost]


# What the tests of each folder need; `invoke test --fast` runs those that need none of it.
NEEDS = {
    "e2e": ("docker", "slow"),
    "bench": ("docker", "slow"),
    "health": ("docker",),
    "standin": ("docker",),
    "kuma": ("docker",),
    "postgres": ("docker",),
    "redis": ("docker",),
    "debian": ("docker",),
    "rig": ("docker",),
    "prosody": ("docker", "root"),
    "nginx": ("root",),
    "tls": ("root", "docker"),
    "smoke": ("docker", "root"),
}
MARKERS = {
    "docker": "needs the Docker engine (test hosts, stand-in containers)",
    "root": "needs root (a real nginx, Prosody or certbot on this machine)",
    "slow": "long end-to-end test (installs packages inside a test host)",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        for marker in NEEDS.get(folder, ()):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def make_host() -> Iterator[MakeHost]:
    """Factory `make_host(suite, name=None) -> TestHost`; every host it starts is removed at the
    end of the session. Without a working Docker engine the test fails: the rig is not optional.
    """
    _require_docker()
    started: list[str] = []
    numbers = itertools.count(1)

    def make(suite: str, name: str | None = None) -> TestHost:
        # The pid keeps names of concurrent sessions on one engine apart.
        name = name or f"rig-{suite}-{os.getpid()}-{next(numbers)}"
        started.append(name)
        return start_host(name, suite)

    yield make
    stop_hosts(started, wait=False)


def _require_docker() -> None:
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"the test rig needs a Docker engine: {error}", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            "the test rig needs a running Docker engine (start it with "
            f"tests/rig/setup-machine.sh): {done.stderr.strip()}",
            pytrace=False,
        )
