"""Fixtures of the Uptime Kuma tests: the real Kuma image, a private network, Prosody, Kuma."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import containers
from .image import ensure_image

MakeKuma = Callable[..., containers.Kuma]


@pytest.fixture(scope="session")
def kuma_image() -> str:
    """The real Kuma image; the first build on a machine takes minutes, later ones seconds."""
    done = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the Kuma tests need a running Docker engine: {done.stderr}", pytrace=False)
    return ensure_image()


@pytest.fixture(scope="session")
def kuma_network(kuma_image: str) -> Iterator[str]:
    name = f"jitsi-deploy-kuma-{os.getpid()}"
    containers.create_network(name)
    yield name
    containers.remove_network(name)


@pytest.fixture(scope="session")
def prosody(kuma_network: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real Prosody 13 on the Kuma network, as Kuma reaches it."""
    name = f"jitsi-deploy-kuma-prosody-{os.getpid()}"
    try:
        yield containers.start_prosody(name, kuma_network, Path(tmp_path_factory.mktemp("prosody")))
    finally:
        containers.remove(name)


@pytest.fixture
def make_kuma(kuma_image: str, kuma_network: str) -> Iterator[MakeKuma]:
    """``make_kuma(wait=True)`` starts a fresh Kuma; every one is removed after the test."""
    started: list[str] = []
    numbers = itertools.count(1)

    def make(wait: bool = True) -> containers.Kuma:
        name = f"jitsi-deploy-kuma-{os.getpid()}-{next(numbers)}"
        started.append(name)
        return containers.start_kuma(kuma_image, name, kuma_network, wait=wait)

    yield make
    containers.remove(*started)


@pytest.fixture
def kuma(make_kuma: MakeKuma) -> containers.Kuma:
    return make_kuma()
