"""Converge one host: facts, plan (desired vs actual), apply (every step's changes in order, in
one script), react to changes.

Check mode stops after the plan; deploy runs the same plan. Nothing branches on check mode
below the plan, so what check mode shows is exactly what a deploy would do.
"""

from __future__ import annotations

import base64
import shlex
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paramiko

from ..errors import DeployError
from ..monitoring.report import Report
from ..monitoring.tunnel import kuma_tunnel
from ..remote.transport import Remote, SshConfig
from ..render.host import Rendered, render_host
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..steps import STEPS, packages
from ..steps.changes import Change, file_diff
from ..steps.facts import (
    ADDRESSES,
    OS_RELEASE,
    Fact,
    HostFacts,
    facts_script,
    parse_facts,
    split_sections,
)
from ..steps.packages import release_of
from ..steps.step import PlanInput, Step, StepPlan
from . import disk_space, meetings, memory, monitoring, package_lock
from .console import Console
from .order import UNORDERED, WAIT_FOR_CORE, CoreFirst
from .runner import Outcome, run_step, run_steps

# The longest error line the progress shows as it happens; the recap shows the error whole.
HEADLINE = 160


@dataclass(frozen=True)
class Options:
    """How to deploy: check mode, host key trust, the image bundle, and fab's SSH config;
    ``package_lock_wait``: how long a busy package manager is waited for (package_lock.py);
    ``confirm``: asked before changes that end meetings in progress (None: go on)."""

    known_hosts: Path
    check: bool = False
    trust_new_host_keys: bool = False
    bundle: Path | None = None
    ssh_config: SshConfig | None = None
    package_lock_wait: float = 15 * 60
    confirm: meetings.Confirm | None = None


@dataclass
class HostReport:
    host: Host
    outcomes: list[Outcome] = field(default_factory=list)
    planned: list[Change] = field(default_factory=list)
    error: str = ""
    round_trips: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def deploy_host(
    deployment: Deployment,
    host: Host,
    options: Options,
    console: Console,
    order: CoreFirst = UNORDERED,
) -> HostReport:
    """Converge ``host`` (or only plan, in check mode), saying how on ``console``, a bridge's
    containers after the core's changes (``order``); never raises for a host's own failure."""
    report = HostReport(host)
    started = time.monotonic()
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        extra = (*monitoring.FACTS, *disk_space.FACTS, *memory.FACTS, *meetings.FACTS, ADDRESSES)
        facts = gather_facts(remote, render_host(deployment, host), extra=extra)
        # The host's nginx version decides one line of the site, its addresses the TURN
        # server's relay address: render again knowing them.
        http2 = release_of(facts[OS_RELEASE]).nginx_http2
        rendered = render_host(deployment, host, http2, addresses=facts[ADDRESSES])
        steps = plan(rendered, facts, options.bundle)
        disk_space.refuse_when_short(host, rendered, facts, steps)
        live = facts[meetings.LIVE]
        too_little = memory.warning(rendered, facts[memory.MEMORY_TOTAL])
        _warn(host, report, console, too_little, meetings.warning(steps, live))
        kuma = monitoring.wanted(deployment, rendered)
        provisioning = monitoring.plan(kuma, facts[monitoring.WANTED_HASH])
        if options.check:
            report.planned = with_diffs(remote, steps) + provisioning
        else:
            if options.confirm:
                meetings.ask_first(host, steps, live, options.confirm)
            if any(packages.uses_apt(step.changes) for step in steps):
                _await_package_lock(remote, facts, options, console)
            _apply(remote, host, steps, report, console, order)
            if kuma and provisioning:
                _provision(remote, host, kuma, report, console)
    except DeployError as error:
        report.error = str(error)
        console.say(host, Change("deploy", _headline(host, report.error), ()), "failed")
    finally:
        order.done(host)  # also when it failed or changed nothing: its bridges go on
        report.round_trips = remote.round_trips
        report.seconds = time.monotonic() - started
        remote.close()
    return report


def _warn(host: Host, report: HostReport, console: Console, *warnings: Outcome | None) -> None:
    """Say each warning as it is found, and keep it for the recap."""
    for warned in filter(None, warnings):
        console.say(host, warned.change, warned.status)
        report.outcomes.append(warned)


def _await_package_lock(
    remote: Remote, facts: HostFacts, options: Options, console: Console
) -> None:
    """Before packages are installed: wait (saying so) while another apt holds its locks."""
    probe = package_lock.remote_probe(remote)
    holders = facts[packages.LOCK_HOLDERS]
    package_lock.wait_for_locks(remote.host, holders, probe, console.say, options.package_lock_wait)


def gather_facts(
    remote: Remote,
    rendered: Rendered,
    steps: tuple[Step, ...] = STEPS,
    extra: tuple[Fact[Any], ...] = (),
) -> HostFacts:
    """Every fact the steps (and the ``extra`` phases) read, in one round trip."""
    wanted = [*(fact for step in steps for fact in step.facts), *extra]
    facts = list({fact.name: fact for fact in wanted}.values())
    return parse_facts(facts, remote.run_script(facts_script(facts, rendered)).stdout)


def plan(
    rendered: Rendered, facts: HostFacts, bundle: Path | None, steps: tuple[Step, ...] = STEPS
) -> list[StepPlan]:
    """Every change the host needs, step by step, in the order they must run."""
    planned: list[StepPlan] = []
    for step in steps:
        changes = step.plan(PlanInput(rendered, facts, bundle, tuple(planned)))
        if changes:
            planned.append(StepPlan(step.name, changes))
    return planned


def with_diffs(remote: Remote, steps: list[StepPlan]) -> list[Change]:
    """The planned changes; file updates carry a diff against the host's current content
    (secrets masked: changes.file_diff)."""
    updates = [c.file for s in steps for c in s.changes if c.file]
    current = _fetch_texts(remote, [f.path for f in updates])
    return [
        replace(change, detail=file_diff(change.file, current[change.file.path]))
        if change.file and change.file.path in current
        else change
        for step in steps
        for change in step.changes
    ]


def _provision(
    remote: Remote, host: Host, kuma: monitoring.Wanted, report: HostReport, console: Console
) -> None:
    """Converge the host's Kuma through a tunnel over this host's SSH connection, then record
    the result on the host in one round trip. Kuma's failures are warnings, but for a refused
    claim: then the status site is closed and the deploy fails."""
    started = time.monotonic()
    with console.working(host) as now:
        now(monitoring.PROVISION)
        try:
            with kuma_tunnel(remote.connection) as url:
                result, records = monitoring.provision(url, kuma)
        except (paramiko.SSHException, OSError) as error:
            result, records = Report(warnings=[f"no SSH tunnel to Uptime Kuma: {error}"]), []
    outcomes = monitoring.outcomes(result, time.monotonic() - started)
    if records:
        outcomes += run_step(remote, StepPlan(monitoring.STEP, records))
    for outcome in outcomes:
        console.say(host, outcome.change, outcome.status, outcome.output, outcome.seconds)
    report.outcomes += outcomes
    if result.refused:
        raise DeployError(monitoring.refusal(host.name))


def _headline(host: Host, error: str) -> str:
    """An error's first line for the progress, as it happens; the recap has it whole."""
    first = error.removeprefix(f"{host.name}: ").splitlines()[0]
    return first if len(first) <= HEADLINE else first[: HEADLINE - 1] + "…"


def _failure_text(outcome: Outcome) -> str:
    if outcome.change.explain:
        return outcome.change.explain(outcome.output)
    return "\n".join(outcome.output.strip().splitlines()[-15:])


def _fetch_texts(remote: Remote, paths: list[str]) -> dict[str, str]:
    """The host's copies of ``paths``, base64-encoded on the way so every byte survives."""
    if not paths:
        return {}
    script = "".join(f"echo @@{shlex.quote(p)}; base64 -w0 {shlex.quote(p)}; echo\n" for p in paths)
    sections = split_sections(remote.run_script(script).stdout)
    return {
        p: base64.b64decode("".join(sections.get(p, []))).decode(errors="replace") for p in paths
    }


def _apply(
    remote: Remote,
    host: Host,
    steps: list[StepPlan],
    report: HostReport,
    console: Console,
    order: CoreFirst,
) -> None:
    """Every step's changes in one round trip (two for a bridge while its core applies), each
    said as it ends."""

    def ended(outcome: Outcome) -> None:
        console.say(host, outcome.change, outcome.status, outcome.output, outcome.seconds)

    with console.working(host) as now:
        for batch, wait in order.batches(host, steps):
            if wait:
                now(WAIT_FOR_CORE)
                wait()
            outcomes = run_steps(remote, batch, began=now, ended=ended)
            report.outcomes += outcomes
            _refuse_incomplete(host, batch, outcomes)
    order.done(host)  # before Kuma's provisioning: the bridges need nothing of it


def _refuse_incomplete(host: Host, steps: list[StepPlan], outcomes: list[Outcome]) -> None:
    failed = next((o for o in outcomes if o.status == "failed"), None)
    if failed:
        raise DeployError(failure(failed))
    changes = [change for step in steps for change in step.changes]
    if len(outcomes) < len(changes):
        raise DeployError(cut_off(host, changes, len(outcomes)))


def failure(failed: Outcome) -> str:
    """A change that failed: what, why (its advice, else its output), and what to do."""
    return (
        f"{failed.change.summary} failed, so the changes after it did not run (those before "
        f"it are in place):\n{_failure_text(failed)}\nFix the cause and deploy again: the "
        "deploy goes on from there. --verbose shows every command's output."
    )


def cut_off(host: Host, changes: list[Change], done: int) -> str:
    """A script that ended before its last change said how it went."""
    return (
        f"the connection to {host.address}:{host.port} ended after {done} of the "
        f"{len(changes)} changes, during: {changes[done].summary}. Deploy again once the host "
        "answers: the reloads and restarts still owed are noted on the host, so none is lost."
    )
