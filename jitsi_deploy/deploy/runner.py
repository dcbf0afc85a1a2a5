"""Run planned changes as one script in one round trip, and say how each one went as it ends."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..remote.commands import Command
from ..remote.transport import Remote
from ..steps.changes import Change
from ..steps.step import StepPlan

_MARKER = re.compile(r"^@@(begin|fail|warn) (\d+)(?: (\d+))?$")


@dataclass(frozen=True)
class Outcome:
    """How one change went: "changed", "warning" (a tolerated failure) or "failed"; ``seconds``
    it ran, as seen from here."""

    change: Change
    status: str
    output: str = ""
    seconds: float = 0.0


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


def run_steps(
    remote: Remote,
    steps: list[StepPlan],
    began: Callable[[Change], None] = lambda change: None,
    ended: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Apply every change of ``steps`` in order, in one script: ``began`` as each starts (and
    while its files are uploaded, before the script), ``ended`` as each ends. Stops at the
    first failure, the last outcome; fewer outcomes than changes: the script was cut off."""
    changes = [change for step in steps for change in step.changes]
    if not changes:
        return []  # a no-op sends nothing
    for change in (change for change in changes if change.uploads):
        began(replace(change, summary=f"upload the files of: {change.summary}"))
        for upload in change.uploads:
            remote.upload(upload.local, upload.remote)
    reader = OutcomeReader(changes, began, ended)
    result = remote.run_script(step_script(changes), on_line=reader.feed)
    return reader.end(result.exit_code)


def run_step(remote: Remote, step: StepPlan) -> list[Outcome]:
    """The changes of one step, in one round trip."""
    return run_steps(remote, [step])


class OutcomeReader:
    """Reads a running script's output line by line: a change's outcome is known once the next
    change begins, or the script ends."""

    def __init__(
        self,
        changes: list[Change],
        began: Callable[[Change], None] = lambda change: None,
        ended: Callable[[Outcome], None] = lambda outcome: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.changes, self.began, self.ended, self.clock = changes, began, ended, clock
        self.outcomes: list[Outcome] = []
        self.current = -1
        self.status = ""
        self.text: list[str] = []
        self.started = 0.0

    def feed(self, line: str) -> None:
        match = _MARKER.match(line)
        if not match:
            self.text.append(line)
            return
        kind, index = match.group(1), int(match.group(2))
        if kind != "begin":
            self.status = "failed" if kind == "fail" else "warning"
            return
        self._close()
        self.current, self.status, self.text, self.started = index, "changed", [], self.clock()
        self.began(self.changes[index])

    def end(self, exit_code: int) -> list[Outcome]:
        """The outcomes; a script that died in a change without reaching its own error handler
        failed that change."""
        if exit_code != 0 and self.status == "changed":
            self.status = "failed"
        self._close()
        return self.outcomes

    def _close(self) -> None:
        if self.current < 0:
            return
        outcome = Outcome(
            self.changes[self.current],
            self.status,
            "\n".join(self.text).strip(),
            self.clock() - self.started,
        )
        self.outcomes.append(outcome)
        self.ended(outcome)
        self.current = -1


def parse_outcomes(changes: list[Change], output: str, exit_code: int) -> list[Outcome]:
    """The outcomes of a script's whole output."""
    reader = OutcomeReader(changes)
    for line in output.splitlines():
        reader.feed(line)
    return reader.end(exit_code)
