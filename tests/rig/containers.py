"""Throw-away containers for the tests of an image's contract (tests/postgres, tests/redis):
the docker CLI with secrets passed by name, a container that is removed whatever happens, its
log for a failure's message."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def docker(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float | None = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def pass_env(env: dict[str, str]) -> list[str]:
    """`-e NAME` for each variable: docker takes the value from its own environment."""
    return [arg for name in env for arg in ("-e", name)]


def unique_name(prefix: str) -> str:
    return f"{prefix}-test-{uuid.uuid4().hex[:10]}"


def logs(name: str) -> str:
    done = docker("logs", name, check=False)
    return done.stdout + done.stderr


@contextmanager
def started(
    image: str,
    *command: str,
    prefix: str,
    env: dict[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[str]:
    """A detached container, removed with its anonymous volumes afterwards (also when the
    engine refused to start it)."""
    env = env or {}
    name = unique_name(prefix)
    try:
        argv = ["run", "--detach", "--name", name, *options, *pass_env(env), image, *command]
        docker(*argv, env=env)
        yield name
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def running(name: str) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"
