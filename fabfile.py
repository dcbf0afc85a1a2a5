"""Remote tasks (Fabric): converge servers over SSH and look after them.

`fab deploy` works on the inventory's hosts (or those given with -H), all in parallel.
Local work (render, tests, benchmarks) lives in tasks.py.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fabric import task
from invoke import Exit

from jitsi_deploy.cli import load_or_exit, settings_paths
from jitsi_deploy.deploy import Options, deploy_host
from jitsi_deploy.executor import whole_group
from jitsi_deploy.fleet import print_plan, print_recap, run_all, say, select_hosts

SHARED_HELP = {
    "env": "settings file (default: .env)",
    "inventory": "inventory file (default: hosts)",
    "known_hosts": "known_hosts file checked for host keys (default: ~/.ssh/known_hosts)",
    "trust_new_host_keys": "accept and record the key of a host seen for the first time",
}


@whole_group
@task(
    help={
        **SHARED_HELP,
        "check": "show what would change (diffs, packages, services) and change nothing",
        "bundle": "offline image bundle (docker save) for hosts with IMAGE_SOURCE=bundle",
    }
)
def deploy(
    c,
    targets="",
    check=False,
    env=None,
    inventory=None,
    bundle=None,
    known_hosts="~/.ssh/known_hosts",
    trust_new_host_keys=False,
):
    """Converge every host: packages, kernel, firewall, files, TLS, stack, health checks."""
    deployment = load_or_exit(*settings_paths(env, inventory))
    hosts = select_hosts(deployment, targets)
    options = Options(
        known_hosts=Path(known_hosts).expanduser(),
        check=check,
        trust_new_host_keys=trust_new_host_keys,
        bundle=Path(bundle) if bundle else None,
        ssh_config=c.config,
    )
    reports = run_all(hosts, partial(deploy_host, deployment, options=options, say=say))
    if check:
        for report in reports:
            print_plan(report)
    if not print_recap(reports, check):
        raise Exit(code=1)


@whole_group
@task(help=SHARED_HELP)
def check(
    c,
    targets="",
    env=None,
    inventory=None,
    known_hosts="~/.ssh/known_hosts",
    trust_new_host_keys=False,
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
