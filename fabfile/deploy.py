"""Converge servers and prove the result: deploy, check, smoke."""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Exit

from jitsi_deploy.deploy.fleet import MAX_PARALLEL, run_all
from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, lazy, one_host, task

if TYPE_CHECKING:
    from jitsi_deploy.deploy.console import Console
    from jitsi_deploy.deploy.host import HostReport

consoles = lazy("jitsi_deploy.deploy.console")
order = lazy("jitsi_deploy.deploy.order")
recap = lazy("jitsi_deploy.deploy.recap")
report = lazy("jitsi_deploy.smoke.report")
smoke_run = lazy("jitsi_deploy.smoke.run")


# The options of every task that converges hosts: how much of its progress it prints.
OUTPUT_HELP = {
    "quiet": "print no progress, only the recap (and the smoke checks' result)",
    "verbose": "print each change's output under its line",
}


@whole_group
@task(
    help={
        **SHARED_HELP,
        "check": "show what would change (diffs, packages, services) and change nothing",
        "bundle": "offline image bundle (docker save) for hosts with IMAGE_SOURCE=bundle",
        "no_smoke": "skip the smoke checks (fab smoke) that follow a successful deploy",
        "recap_json": "also write the recap as JSON to this file (for scripts and CI)",
        "yes": "go on without asking when a change would end meetings in progress",
        "parallel": f"work on at most this many hosts at once (default {MAX_PARALLEL})",
        **OUTPUT_HELP,
    }
)
def deploy(
    c,
    targets="",
    check=False,
    env=None,
    inventory=None,
    bundle=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
    no_smoke=False,
    recap_json="",
    yes=False,
    parallel=MAX_PARALLEL,
    quiet=False,
    verbose=False,
):
    """Converge every host: packages, kernel, firewall, files, TLS, stack, health checks."""
    console = console_for(quiet, verbose)
    deployment, hosts, options = connect(
        c,
        targets,
        env,
        inventory,
        known_hosts,
        trust_new_host_keys,
        check=check,
        bundle=Path(bundle) if bundle else None,
        # Only a person at a terminal is asked; scripts and CI go on, as with --yes.
        confirm=None if yes or not sys.stdin.isatty() else partial(ask_before_ending, console),
    )
    if int(parallel) < 1:
        raise Exit(
            f"--parallel {parallel}: give a number of hosts, 1 or more; nothing was touched."
        )
    recap_file = Path(recap_json) if recap_json else None
    reports = converge(deployment, hosts, options, recap_file, int(parallel), console)
    if not succeeded(reports):
        raise Exit(code=1)
    if not (check or no_smoke):
        print("\nSmoke checks (skip them with --no-smoke):")
        run_smoke(deployment, hosts, options, wait=SETTLE_SECONDS, quiet=quiet)


def console_for(quiet: bool, verbose: bool) -> Console:
    """Where a converge's progress goes, as --quiet and --verbose ask."""
    if quiet and verbose:
        raise Exit("--quiet and --verbose ask for opposite things: give one; nothing was touched.")
    chosen = consoles.Level
    level = chosen.QUIET if quiet else chosen.VERBOSE if verbose else chosen.NORMAL
    return consoles.Console(level=level)


def ask_before_ending(console: Console, host, changes, live) -> bool:
    """Asked on the terminal before a host's changes end the meetings in progress."""
    listed = "".join(f"\n  {change.summary}" for change in changes)
    question = f"\n{host.name}: {live} are in progress. These changes end them:{listed}\nGo on?"
    return console.ask(question)


# How long a deploy gives a (re)started stack to pass its smoke checks.
SETTLE_SECONDS = 180


def converge(
    deployment,
    hosts,
    options,
    recap_json: Path | None = None,
    parallel: int = MAX_PARALLEL,
    console: Console | None = None,
) -> list[HostReport]:
    """Deploy (or, with options.check, plan) every host, ``parallel`` at a time, with progress
    on ``console``; print plans and recap, and write the recap as JSON to ``recap_json``."""
    started = time.monotonic()
    console = console or consoles.Console()
    hosts = order.cores_first(hosts)
    work = partial(
        one_host.deploy_host,
        deployment,
        options=options,
        console=console,
        order=order.CoreFirst(hosts),
    )
    reports = run_all(hosts, work, parallel)
    seconds = time.monotonic() - started
    if options.check:
        for host_report in reports:
            recap.print_plan(host_report)
    recap.print_recap(reports, options.check, seconds)
    if recap_json:
        recap_json.write_text(recap.as_json(reports, options.check, seconds) + "\n")
    return reports


def succeeded(reports: list[HostReport]) -> bool:
    return not any(host_report.error for host_report in reports)


def smoke_results(
    deployment, hosts, options, ca_file="", resolve="", as_json=False, wait=0, quiet=False
):
    """Run the smoke checks and print them (``quiet``: the failed ones); the results."""
    results = checked(smoke_run.smoke, deployment, hosts, options, ca_file, resolve, wait)
    text = report.as_json(results) if as_json else "\n".join(report.lines(results, quiet))
    print(text, flush=True)
    return results


def run_smoke(
    deployment, hosts, options, ca_file="", resolve="", as_json=False, wait=0, quiet=False
) -> None:
    """Run the smoke checks, print them, and exit non-zero when one failed."""
    if not report.passed(
        smoke_results(deployment, hosts, options, ca_file, resolve, as_json, wait, quiet)
    ):
        raise Exit(code=1)


@whole_group
@task(
    help={
        **SHARED_HELP,
        "ca_file": "trust this CA file (a private CA) for the site's certificate",
        "resolve": "connect to ADDRESS:PORT instead of what DNS says for the site (curl --resolve)",
        "json": "print the results as JSON, for scripts",
        "wait": "retry failing checks for up to this many seconds (a stack still starting)",
    }
)
def smoke(
    c,
    targets="",
    env=None,
    inventory=None,
    ca_file="",
    resolve="",
    json=False,
    wait=0,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Prove the deployed site from the outside: TLS, page, BOSH, websocket, room policy, 5222;
    then over SSH: jicofo's bridges, each service's health, the room policy in force."""
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    run_smoke(deployment, hosts, options, ca_file, resolve, json, float(wait))


@whole_group
@task(help=SHARED_HELP)
def check(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """Show exactly what a deploy would change on every host, changing nothing."""
    deploy(
        c,
        targets=targets,
        check=True,
        env=env,
        inventory=inventory,
        known_hosts=known_hosts,
        trust_new_host_keys=trust_new_host_keys,
    )
