"""Shared pytest glue: markers and the test-host factory of the Docker test rig."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator

import pytest
from rig.hosts import TestHost, start_host, stop_host

MakeHost = Callable[..., TestHost]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long end-to-end test (installs packages inside a test host)"
    )


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
    for name in started:
        stop_host(name)


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
