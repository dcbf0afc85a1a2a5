"""Each benchmark figure beside the previous run's. The figures live in tests/bench/results.json,
kept in the repository, so a run that makes something slower shows in the diff of that file."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def show(section: str, figures: dict[str, float], results: Path = RESULTS) -> None:
    """Print ``figures`` (name with its unit -> value) beside the previous run's, then keep them."""
    recorded = json.loads(results.read_text()) if results.exists() else {}
    previous = recorded.get(section, {})
    width = max(len(name) for name in figures)
    print(f"\n{section}\n{'':<{width}}  {'now':>9}  {'previous':>9}")
    for name, value in figures.items():
        before = previous.get(name)
        shown = "-" if before is None else f"{before:9.3f}"
        print(f"{name:<{width}}  {value:9.3f}  {shown:>9}")
    # Figures this run did not measure (e.g. another host count) keep their last value.
    recorded[section] = {**previous, **{name: round(value, 3) for name, value in figures.items()}}
    results.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
