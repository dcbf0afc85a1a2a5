"""Prosody servers for the room-policy tests: one per Prosody version and policy, started on
first use and shared by the whole session."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from . import server
from .policies import ACCOUNTS, SETUPS

GetServer = Callable[[str, str], server.Prosody]


@pytest.fixture(scope="session")
def prosody_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GetServer]:
    started: dict[tuple[str, str], server.Prosody] = {}

    def get(version: str, policy: str) -> server.Prosody:
        if (version, policy) not in started:
            directory = tmp_path_factory.mktemp(f"prosody-{version}-{policy}")
            started[version, policy] = server.start(version, directory, SETUPS[policy], ACCOUNTS)
        return started[version, policy]

    yield get
    for running in started.values():
        server.stop(running)


@pytest.fixture(params=server.VERSIONS, ids=lambda version: f"prosody-{version}")
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def prosody(prosody_servers: GetServer, version: str) -> server.Prosody:
    """The server with the main policy: other rooms allowed."""
    return prosody_servers(version, "allow")
