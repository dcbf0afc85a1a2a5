"""Secrets generated once, kept in a git-ignored file readable by its owner only, never printed.

`.secrets.env` is read with the strict grammar of envfile.py, and each secret the deployment
needs must match the grammar its generator produces (32 hex digits for the XMPP passwords, at
least 16 URL-safe characters otherwise), so a hand-edited weak or broken value is refused
instead of deployed. Missing secrets are made in memory; the caller saves them only once every
setting is valid, so a refused configuration leaves the file untouched.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem
from .envfile import parse_env, replace_file

HEADER = "# Generated secrets: keep this file private and out of version control.\n"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]{16,256}")


@dataclass(frozen=True)
class Secret:
    """A secret the deployment needs and how to make it (the services declare theirs)."""

    name: str
    make: Callable[[], str]


def _grammar(secret: Secret) -> tuple[re.Pattern[str], str]:
    """The grammar of a secret's values, told by what its generator makes."""
    if _HEX32.fullmatch(secret.make()):
        return _HEX32, "32 lower-case hex digits"
    return _URLSAFE, "at least 16 letters, digits, '-' or '_'"


def read_secrets(
    path: Path, wanted: Iterable[Secret]
) -> tuple[dict[str, str], dict[str, str], list[Problem]]:
    """(stored, missing, problems): the file's secrets, new ones for those it lacks (not yet
    saved), and a problem for each stored value that breaks its grammar."""
    wanted = tuple(wanted)
    stored: dict[str, str] = {}
    problems: list[Problem] = []
    if path.is_symlink():
        message = (
            "is a symbolic link; the secrets are written and chmod-ed in place, never through "
            f'a link. Replace it with the file itself (cp --remove-destination "$(readlink -f '
            f'{path.name})" {path.name}).'
        )
        return {}, {}, [Problem(path.name, "-", message)]
    if path.exists():
        parsed, problems = parse_env(path)
        stored = parsed.values
        for secret in wanted:
            value = stored.get(secret.name, "")
            pattern, described = _grammar(secret)
            if value and not pattern.fullmatch(value):
                line = parsed.lines.get(secret.name, 0)
                message = (
                    f"is not {described}, as generated. Delete the line to have a new one "
                    "generated (and deploy again)."
                )
                problems.append(Problem(f"{path.name}:{line}", secret.name, message))
    missing = {s.name: s.make() for s in wanted if not stored.get(s.name)}
    return stored, missing, problems


def save_secrets(path: Path, stored: dict[str, str], missing: dict[str, str]) -> None:
    """Save ``missing`` beside ``stored``; either way leave the file at mode 0600."""
    if missing:
        write_secrets(path, {**stored, **missing})
    elif path.exists():
        _restrict(path)


def _restrict(path: Path) -> None:
    """Mode 0600 on the file itself: opened without following a link (O_NOFOLLOW), so a link
    planted in its place since it was read is refused instead of chmod-ing its target."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def write_secrets(path: Path, values: dict[str, str]) -> None:
    """Write atomically with mode 0600 from the start, so the secrets are never world-readable."""
    lines = "".join(f"{name}={value}\n" for name, value in sorted(values.items()))
    replace_file(path, HEADER + lines, 0o600)
