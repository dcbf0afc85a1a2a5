"""The README's "Two commands on a fresh machine", read from the README itself, so that the
tests and CI run what a newcomer reads, word for word."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Two commands on a fresh machine"


def fresh_machine_section() -> str:
    text = (REPO / "README.md").read_text()
    if SECTION not in text:
        raise ValueError(f"README.md has no section {SECTION!r}")
    return text.split(SECTION, 1)[1].split("\n## ", 1)[0]


def fresh_machine_commands() -> tuple[str, str]:
    """(first command: render the example, second command: prepare the machine and test)."""
    blocks = [b.strip() for b in re.findall(r"```sh\n(.*?)```", fresh_machine_section(), re.S)]
    if len(blocks) != 2 or any("\n" in block for block in blocks):
        raise ValueError(f"expected two one-line sh commands in {SECTION!r}, found {blocks}")
    return blocks[0], blocks[1]
