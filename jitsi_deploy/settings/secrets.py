"""Secrets generated once, kept in a git-ignored file readable by its owner only, never printed."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values


@dataclass(frozen=True)
class Secret:
    """A secret the deployment needs and how to make it (the services declare theirs)."""

    name: str
    make: Callable[[], str]


def load_secrets(path: Path, wanted: Iterable[Secret]) -> dict[str, str]:
    """Read ``path``, adding (and saving) any secret it lacks; the file is kept at mode 0600."""
    stored = {k: v or "" for k, v in dotenv_values(path).items()} if path.exists() else {}
    missing = {s.name: s.make() for s in wanted if not stored.get(s.name)}
    if missing:
        _write(path, {**stored, **missing})
    elif stat.S_IMODE(path.stat().st_mode) != 0o600:
        path.chmod(0o600)
    return {**stored, **missing}


def _write(path: Path, values: dict[str, str]) -> None:
    """Write atomically with mode 0600 from the start, so the secrets are never world-readable."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Generated secrets: keep this file private and out of version control.\n")
        handle.writelines(f"{name}={value}\n" for name, value in sorted(values.items()))
    os.replace(temporary, path)
