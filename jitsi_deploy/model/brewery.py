"""The video bridges in jicofo's brewery, by nickname: those the core's jicofo should see (the
inventory) and those it says it sees (its /debug, on by default: bridge_selector.bridge holds
each bridge under its brewery JID, room/nickname, with the flags of its last presence)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .services import Placement, bridge_nickname

JICOFO_DEBUG_URL = "http://127.0.0.1:8888/debug"


def expected_bridges(placement: Placement) -> tuple[str, ...]:
    """The bridges jicofo on this core should see: its own, and the [jvb] hosts that dial it
    (the inventory's core; a core named with -H alone has only its own)."""
    own = (bridge_nickname(placement.host),)
    dialed = placement.core is not None and placement.core.name == placement.host.name
    return own + (tuple(bridge_nickname(b) for b in placement.bridges) if dialed else ())


@dataclass(frozen=True)
class Brewery:
    """What jicofo says: the bridges it can use, and those of them in drain mode."""

    operational: tuple[str, ...] = ()
    draining: tuple[str, ...] = ()

    def missing(self, expected: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(name for name in expected if name not in self.operational)

    def describe(self) -> str:
        seen = ", ".join(self.operational) or "no bridge"
        draining = f" ({', '.join(self.draining)} draining)" if self.draining else ""
        return f"{seen}{draining}"


def parse_debug(text: str) -> Brewery:
    """jicofo's /debug answer; ValueError when it holds no bridge selector."""
    try:
        bridges = json.loads(text)["bridge_selector"]["bridge"]
        flags = {jid.rpartition("/")[2]: bridges[jid] for jid in sorted(bridges)}
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"no bridge_selector.bridge in {text[:160]!r}") from error
    return Brewery(
        tuple(name for name, bridge in flags.items() if bridge.get("operational")),
        tuple(name for name, bridge in flags.items() if bridge.get("drain")),
    )
