"""The same settings and secrets render the same bytes: two `invoke render` processes with
different hash seeds (set and dict order, str hashes) write identical trees, file by file and
mode by mode. A deploy that rewrote a file because a set came out in another order would
restart a service for nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.unit.sites import EXAMPLE_ENV, REPO, TWO_HOSTS


def render(folder: Path, build: str, seed: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "render", "--skip-validation",
         "--build", build],
        cwd=folder, capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed},
    )  # fmt: skip


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(path.relative_to(root)): (path.stat().st_mode, path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_two_processes_with_different_hash_seeds_render_identical_trees(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE_ENV, tmp_path / ".env")
    (tmp_path / "hosts").write_text(TWO_HOSTS)
    render(tmp_path, "first", "1")  # makes the secrets, which the second render reads
    render(tmp_path, "second", "2")
    first, second = tree(tmp_path / "first"), tree(tmp_path / "second")
    assert len(first) > 20 and first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == [], differing
