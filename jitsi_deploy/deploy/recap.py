"""What a converge did, per host and in one line: the plans in check mode, the recap table, a
summary line, and the same as JSON for scripts and CI."""

from __future__ import annotations

import json
from typing import Any

from ..paint import paint
from .host import HostReport
from .runner import Outcome


def print_plan(report: HostReport) -> None:
    if report.error:
        return
    print(f"\n== {report.host.name}: {len(report.planned) or 'no'} changes would be made")
    for change in report.planned:
        print(f"  {change.step:<9} {change.summary}")
        for line in change.detail.splitlines():
            print(f"      {line}")


def counted(number: int, noun: str) -> str:
    """1 warning, 2 warnings."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def host_status(report: HostReport, check: bool) -> str:
    """failed, changed or unchanged; in check mode, to change or unchanged."""
    if report.error:
        return "failed"
    if check:
        return "to change" if report.planned else "unchanged"
    return "changed" if report.count("changed") else "unchanged"


def print_recap(reports: list[HostReport], check: bool, seconds: float) -> bool:
    """The per-host table and the summary line; returns whether every host succeeded."""
    print("\nRECAP" + (" (check mode: nothing was changed)" if check else ""))
    for r in reports:
        print(f"  {r.host.name:<24} {_status_words(r, check)}{_extras(r)}")
        for outcome in (o for o in r.outcomes if o.status == "warning"):
            print(f"      warning: {outcome.change.summary}: {warning_text(outcome)}")
        if r.error:
            print("      " + r.error.replace("\n", "\n      "))
    print(summary(reports, check, seconds))
    return not any(r.error for r in reports)


def _status_words(report: HostReport, check: bool) -> str:
    status = host_status(report, check)
    if status == "failed":
        return paint("FAILED")
    if status == "to change":
        return paint(f"{len(report.planned)} to change", "changed")
    if status == "changed":
        return paint(f"changed {report.count('changed')}", "changed")
    return paint("no changes needed" if check else "unchanged: nothing to do", "unchanged")


def _extras(report: HostReport) -> str:
    warnings = report.count("warning")
    extra = f", {counted(warnings, 'warning')}" if warnings else ""
    return f"{extra}  ({counted(report.round_trips, 'round trip')}, {report.seconds:.1f}s)"


def summary(reports: list[HostReport], check: bool, seconds: float) -> str:
    """One line: how many hosts ended how, and the whole time."""
    statuses = [host_status(r, check) for r in reports]
    kinds = ("to change", "unchanged", "failed") if check else ("changed", "unchanged", "failed")
    counts = ", ".join(f"{statuses.count(kind)} {kind}" for kind in kinds)
    return f"{counted(len(reports), 'host')}: {counts}, in {seconds:.1f}s."


def warning_text(outcome: Outcome) -> str:
    """What a tolerated failure means, where the change says; else its last line of output."""
    if outcome.change.explain:
        return outcome.change.explain(outcome.output)
    lines = outcome.output.strip().splitlines()
    return lines[-1] if lines else "no output"


def as_json(reports: list[HostReport], check: bool, seconds: float) -> str:
    """The recap for scripts: the same statuses, counts, warnings and errors."""
    document: dict[str, Any] = {
        "ok": not any(r.error for r in reports),
        "check": check,
        "seconds": round(seconds, 1),
        "summary": summary(reports, check, seconds),
        "hosts": [_host_json(r, check) for r in reports],
    }
    return json.dumps(document, indent=2)


def _host_json(report: HostReport, check: bool) -> dict[str, Any]:
    warnings = [o for o in report.outcomes if o.status == "warning"]
    return {
        "host": report.host.name,
        "status": host_status(report, check),
        "changed": report.count("changed"),
        "planned": [change.summary for change in report.planned],
        "warnings": [f"{o.change.summary}: {warning_text(o)}" for o in warnings],
        "error": report.error,
        "round_trips": report.round_trips,
        "seconds": round(report.seconds, 1),
    }
