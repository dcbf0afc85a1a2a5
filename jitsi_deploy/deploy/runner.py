"""Run the changes of one step as one script in one round trip, and say how each one went."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..remote.commands import Command
from ..remote.transport import Remote
from ..steps.changes import Change
from ..steps.step import StepPlan

_MARKER = re.compile(r"^@@(begin|fail|warn) (\d+)(?: (\d+))?$")


@dataclass(frozen=True)
class Outcome:
    """How one change went: "changed", "warning" (a tolerated failure) or "failed"."""

    change: Change
    status: str
    output: str = ""


def step_script(changes: list[Change]) -> str:
    """One shell script for all ``changes``: markers split its output back per change."""
    lines: list[str] = []
    for index, change in enumerate(changes):
        lines.append(f"echo '@@begin {index}'")
        if change.warn_only:
            on_error = f'echo "@@warn {index} $?"'
        else:
            on_error = f'{{ echo "@@fail {index} $?"; exit 1; }}'
        for number, command in enumerate(change.commands):
            lines += command_lines(command, on_error, f"JITSI_DEPLOY_STDIN_{index}_{number}")
    return "\n".join(lines) + "\n"


def command_lines(command: Command, on_error: str, marker: str) -> list[str]:
    """A command as script lines; its stdin becomes a here-document, never an argument."""
    if command.stdin is None:
        return [f"{command.shell()} 2>&1 </dev/null || {on_error}"]
    body = command.stdin.decode().rstrip("\n")
    return [f"{command.shell()} 2>&1 <<'{marker}' || {on_error}", body, marker]


def run_step(remote: Remote, step: StepPlan) -> list[Outcome]:
    """Apply the step's changes in order; stops at the first failure, the last outcome."""
    for upload in (upload for change in step.changes for upload in change.uploads):
        remote.upload(upload.local, upload.remote)
    result = remote.run_script(step_script(step.changes))
    return parse_outcomes(step.changes, result.stdout + result.stderr, result.exit_code)


def parse_outcomes(changes: list[Change], output: str, exit_code: int) -> list[Outcome]:
    texts: dict[int, list[str]] = {}
    status: dict[int, str] = {}
    current = -1
    for line in output.splitlines():
        match = _MARKER.match(line)
        if not match:
            texts.setdefault(current, []).append(line)
            continue
        kind, index = match.group(1), int(match.group(2))
        if kind == "begin":
            current = index
            status[index] = "changed"
        else:
            status[index] = "failed" if kind == "fail" else "warning"
    if exit_code != 0 and current >= 0 and status.get(current) == "changed":
        status[current] = "failed"  # the script died without reaching its own error handler
    return [
        Outcome(changes[i], status[i], "\n".join(texts.get(i, [])).strip()) for i in sorted(status)
    ]
