"""Meetings in progress: a deploy that would end them says so, and asks first on a terminal.

jicofo's /stats (published on the core's loopback) counts the conferences and participants of
the site; it is read in the facts round trip. When the plan holds a change that ends meetings
(a restart of Docker, prosody, jicofo or a bridge, or Compose recreating services) and people
are meeting, the progress and the recap carry a warning with the numbers, and the deploy asks
``confirm`` before it changes anything on the host. `fab deploy` asks on a terminal; `--yes`,
or output that is not a terminal (scripts, CI), goes on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DeployError
from ..model.services import JICOFO_STATS_URL
from ..settings.inventory import Host
from ..steps.changes import Change
from ..steps.facts import Fact, fixed
from ..steps.step import StepPlan
from .runner import Outcome

STEP = "meetings"


@dataclass(frozen=True)
class Live:
    conferences: int
    participants: int

    def __str__(self) -> str:
        return f"{self.conferences} conference(s) with {self.participants} participant(s)"


def parse_live(lines: list[str]) -> Live | None:
    """jicofo's counts, or None where no jicofo answers (a bridge host, a stack not up)."""
    try:
        stats = json.loads("\n".join(lines))
        return Live(int(stats["conferences"]), int(stats.get("participants", 0)))
    except (ValueError, KeyError, TypeError):
        return None


LIVE = Fact(
    "live-meetings",
    # curl ends the JSON without a newline: the echo puts the next fact's header on its own line.
    fixed(f"curl -fsS --max-time 2 {JICOFO_STATS_URL} 2>/dev/null; echo"),
    parse_live,
)
FACTS = (LIVE,)

# Asked before the changes that end meetings run on the host; False keeps the host as it is.
Confirm = Callable[[Host, list[Change], Live], bool]


def at_stake(steps: list[StepPlan], live: Live | None) -> list[Change]:
    """The planned changes that would end meetings now in progress (none when nobody meets)."""
    if live is None or not live.conferences:
        return []
    return [change for step in steps for change in step.changes if change.ends_meetings]


def warning(steps: list[StepPlan], live: Live | None) -> Outcome | None:
    """A warning for the progress and the recap when the plan ends meetings in progress."""
    changes = at_stake(steps, live)
    if not changes:
        return None
    text = (
        f"{live} are in progress, and {_listed(changes)} ends them: people must rejoin. "
        "Deploy when nobody meets if you can."
    )
    return Outcome(Change(STEP, "look for meetings in progress", ()), "warning", text)


def ask_first(host: Host, steps: list[StepPlan], live: Live | None, confirm: Confirm) -> None:
    """Raise (changing nothing on the host) when meetings would end and ``confirm`` says no."""
    changes = at_stake(steps, live)
    if live is None or not changes or confirm(host, changes, live):
        return
    raise DeployError(
        f"{host.name} was not changed: {live} are in progress, and {_listed(changes)} would "
        "end them. Deploy again when nobody meets, or answer yes (--yes does so for every "
        "host)."
    )


def _listed(changes: list[Change]) -> str:
    return "; ".join(change.summary.split(" (", 1)[0] for change in changes)
