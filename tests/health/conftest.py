"""Fixtures of the health-check tests: a fresh stand-in stack per test on the real engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from healthstack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(workdir=tmp_path)
    try:
        s.up()
        yield s
    finally:
        s.down()
