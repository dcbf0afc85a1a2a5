"""Colour for a person at a terminal: only when the output is one, never when NO_COLOR is set
(no-color.org), so redirected output (a file, a CI log, a pipe) carries no escape sequences.
Four SGR codes need no library."""

from __future__ import annotations

import os
import sys
from typing import TextIO

RED, GREEN, YELLOW = "31", "32", "33"
# The words the output uses for an outcome, and their colour.
WORDS = {
    "ok": GREEN,
    "unchanged": GREEN,
    "changed": YELLOW,
    "warning": YELLOW,
    "skip": YELLOW,
    "failed": RED,
    "FAILED": RED,
    "FAIL": RED,
}


def enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR")


def paint(text: str, word: str | None = None, stream: TextIO | None = None) -> str:
    """``text`` in the colour of ``word`` (default: the text itself), when colour is on."""
    code = WORDS.get((word or text).strip())
    return f"\x1b[{code}m{text}\x1b[0m" if code and enabled(stream) else text
