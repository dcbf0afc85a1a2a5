"""Remote commands as data: built once, shown by check mode, asserted by tests, run remotely."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One command for a host, run as root (through sudo when the SSH user is not root).

    + argv: the program and its arguments, quoted once when the command is sent.
    + description: what it does, in words a person reads in the progress lines and check mode.
    + stdin: bytes fed to the command; secrets travel here, never in argv, so `ps` can't show them.
    """

    argv: tuple[str, ...]
    description: str
    stdin: bytes | None = None

    def shell(self) -> str:
        return shlex.join(self.argv)


def sh(script: str, description: str, stdin: bytes | None = None) -> Command:
    """A small shell script as one command (for pipes and conditionals that argv can't express)."""
    return Command(("sh", "-c", script), description, stdin)


def sh_args(script: str, args: tuple[str, ...], description: str) -> Command:
    """A shell script with positional arguments (paths stay out of the script text)."""
    return Command(("sh", "-c", script, "sh", *args), description)
