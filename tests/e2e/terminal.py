"""Run a command on a pseudo-terminal, as a person at a terminal would, answering a question."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path


def run_on_terminal(
    argv: list[str], cwd: Path, prompt: bytes, answer: str, timeout: float = 900
) -> tuple[int, str]:
    """Run ``argv`` with a terminal for its stdin and output; type ``answer`` once ``prompt``
    shows. Its exit code and everything it printed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the command closed the terminal
                    chunk = b""
                output += chunk
                if not answered and prompt in output:
                    os.write(master, answer.encode())
                    answered = True
                if not chunk and process.poll() is not None:
                    break
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"{argv} did not end in {timeout} s: {output[-2000:]!r}")
        return process.wait(), output.decode(errors="replace")
    finally:
        os.close(master)
