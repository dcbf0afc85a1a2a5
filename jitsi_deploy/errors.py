"""The project's error types: each one says where the problem is and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


class DeployError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One bad input: the file, the key or line, what is wrong and how to fix it."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


class ConfigError(DeployError):
    """The configuration has problems; nothing was rendered or touched."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RenderError(DeployError):
    """A template failed to render (a bug or a missing variable): names the template and line."""


class ValidationError(DeployError):
    """A rendered file failed its validator (compose, nginx -t, luacheck, shellcheck)."""
