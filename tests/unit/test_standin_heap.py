"""The stand-ins' heap rule never turns itself off: where no cgroup file gives the memory
limit it refuses to start, saying why (tests/standin/rootfs/common/standin/lib/standin.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.unit.sites import REPO

LIB = REPO / "tests/standin/rootfs/common/standin/lib/standin.py"


def standin_lib():
    spec = importlib.util.spec_from_file_location("standin_lib", LIB)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_limit_is_read_from_v2_or_v1_and_its_absence_refuses(tmp_path: Path) -> None:
    lib = standin_lib()
    v2, v1, missing = tmp_path / "memory.max", tmp_path / "limit_in_bytes", tmp_path / "none"
    v2.write_text("max\n")
    v1.write_text(f"{512 * lib.MIB}\n")
    assert lib.memory_limit((str(v2), str(v1))) is None
    assert lib.memory_limit((str(missing), str(v1))) == 512 * lib.MIB
    with pytest.raises(lib.Refusal, match="cannot read the container's memory limit"):
        lib.memory_limit((str(missing),))
