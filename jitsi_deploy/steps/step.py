"""A deploy step: the facts it reads and a pure plan from those facts to changes.

Every step's plan is a list of Changes; the deploy walks the registry in steps/__init__.py, and
the runner applies each step's changes in one round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..render.host import Rendered
from .changes import Change
from .facts import Fact, HostFacts


@dataclass(frozen=True)
class StepPlan:
    """The changes of one step, applied together in one round trip."""

    name: str
    changes: list[Change]


@dataclass(frozen=True)
class PlanInput:
    """What a step plans from: the host's files, its facts, the deploy's options and the plans
    of the steps before it (the handlers react to what those change)."""

    rendered: Rendered
    facts: HostFacts
    bundle: Path | None = None
    earlier: tuple[StepPlan, ...] = ()

    def earlier_changes(self) -> list[Change]:
        return [change for plan in self.earlier for change in plan.changes]


@dataclass(frozen=True)
class Step:
    name: str
    facts: tuple[Fact[Any], ...]
    plan: Callable[[PlanInput], list[Change]]
