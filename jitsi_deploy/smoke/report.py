"""The smoke results for people (one line per check, the meaning under a failure) and scripts."""

from __future__ import annotations

import json
from dataclasses import asdict

from ..paint import paint
from .checks import Result

MARKS = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def passed(results: list[Result]) -> bool:
    return all(result.status != "fail" for result in results)


def lines(results: list[Result], failed_only: bool = False) -> list[str]:
    """``ok   name: detail``; a failure adds what it means for the users on the next line.
    ``failed_only``: the failed checks and the summary line."""
    out = []
    for result in results:
        if failed_only and result.status != "fail":
            continue
        name = f"{result.host}: {result.name}" if result.host else result.name
        detail = result.detail.replace("\n", "\n        ")
        out.append(f"{paint(MARKS[result.status])}  {name}: {detail}")
        if result.status == "fail":
            out.append(f"      -> {result.meaning}")
    failed = sum(result.status == "fail" for result in results)
    summary = f"{failed} of {len(results)} checks failed" if failed else "all checks passed"
    return [*out, summary + "."]


def as_json(results: list[Result]) -> str:
    return json.dumps({"ok": passed(results), "checks": [asdict(r) for r in results]}, indent=2)
