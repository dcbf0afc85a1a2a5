"""Markers and fixtures of the stand-in tests: the images, built once per session (cached by the
engine between sessions), and host folders for their volumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standin import build
from tests.standin.standins import PASSWORDS, Options, network, owned_dir


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs the Docker engine of tests/rig")
    config.addinivalue_line("markers", "slow: long test (a whole compose stack)")


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    return build.build_standins(build.local_names())


@pytest.fixture
def prosody_options(tmp_path: Path) -> Options:
    """The prosody service as the upstream compose file runs it."""
    config = tmp_path / "prosody"
    return Options(
        volumes=[
            f"{owned_dir(config / 'config')}:/config:ro",
            f"{owned_dir(config / 'prosody-plugins-custom')}:/prosody-plugins-custom:ro",
            f"{owned_dir(tmp_path / 'storage' / 'prosody')}:/var/lib/prosody",
        ],
        env=dict(PASSWORDS),
    )


@pytest.fixture
def net() -> Iterator[str]:
    """A Docker network of its own for the containers of one test."""
    with network() as name:
        yield name
