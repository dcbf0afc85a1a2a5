"""Remote tasks (Fabric): converge servers over SSH and look after them.

`fab deploy` works on the inventory's hosts (or those given with -H), all in parallel.
Local work (render, tests, benchmarks) lives in tasks.py.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fabric import task
from invoke import Exit

from jitsi_deploy.deploy import operate
from jitsi_deploy.deploy.fleet import print_plan, print_recap, run_all, say, select_hosts
from jitsi_deploy.deploy.host import Options, deploy_host
from jitsi_deploy.deploy.monitoring import ADMIN_USER
from jitsi_deploy.entry import load_or_exit, settings_paths
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model.services import KUMA_ADMIN_PASSWORD
from jitsi_deploy.remote.group_executor import whole_group
from jitsi_deploy.smoke import report
from jitsi_deploy.smoke.run import smoke as smoke_checks

KNOWN_HOSTS = "~/.ssh/known_hosts"
SHARED_HELP = {
    "env": "settings file (default: .env)",
    "inventory": "inventory file (default: hosts)",
    "known_hosts": "known_hosts file checked for host keys (default: ~/.ssh/known_hosts)",
    "trust_new_host_keys": "accept and record the key of a host seen for the first time",
}


def _connect(c, targets, env, inventory, known_hosts, trust_new_host_keys, **extra):
    """The selected hosts and how to reach them: what every remote task starts with."""
    deployment = load_or_exit(*settings_paths(env, inventory))
    options = Options(
        known_hosts=Path(known_hosts).expanduser(),
        trust_new_host_keys=trust_new_host_keys,
        ssh_config=c.config,
        **extra,
    )
    try:
        hosts = select_hosts(deployment, targets)
    except ConfigError as error:
        raise Exit(
            "Bad -H targets; nothing was touched:\n"
            + "\n".join(f"  {problem}" for problem in error.problems)
        ) from None
    return deployment, hosts, options


def _checked(operation, *args):
    """Run ``operation``; a bad option stops with its message before any host is touched."""
    try:
        return operation(*args)
    except ConfigError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        raise Exit(f"Bad options; nothing was touched:\n{lines}") from None


def _exit_on_failure(outputs) -> None:
    if any(output.exit_code for output in outputs):
        raise Exit(code=1)


@whole_group
@task(
    help={
        **SHARED_HELP,
        "check": "show what would change (diffs, packages, services) and change nothing",
        "bundle": "offline image bundle (docker save) for hosts with IMAGE_SOURCE=bundle",
        "no_smoke": "skip the smoke checks (fab smoke) that follow a successful deploy",
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
):
    """Converge every host: packages, kernel, firewall, files, TLS, stack, health checks."""
    deployment, hosts, options = _connect(
        c,
        targets,
        env,
        inventory,
        known_hosts,
        trust_new_host_keys,
        check=check,
        bundle=Path(bundle) if bundle else None,
    )
    reports = run_all(hosts, partial(deploy_host, deployment, options=options, say=say))
    if check:
        for report in reports:
            print_plan(report)
    if not print_recap(reports, check):
        raise Exit(code=1)
    if not (check or no_smoke):
        print("\nSmoke checks (skip them with --no-smoke):")
        _smoke(deployment, hosts, options, wait=SETTLE_SECONDS)


# How long a deploy gives a (re)started stack to pass its smoke checks.
SETTLE_SECONDS = 180


def _smoke(deployment, hosts, options, ca_file="", resolve="", as_json=False, wait=0) -> None:
    """Run the smoke checks, print them, and exit non-zero when one failed."""
    results = _checked(smoke_checks, deployment, hosts, options, ca_file, resolve, wait)
    print(report.as_json(results) if as_json else "\n".join(report.lines(results)), flush=True)
    if not report.passed(results):
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
    deployment, hosts, options = _connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    _smoke(deployment, hosts, options, ca_file, resolve, json, float(wait))


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


@whole_group
@task(help=SHARED_HELP)
def health(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """Run the health checks now on every host: what is healthy, what not, recent actions."""
    _, hosts, options = _connect(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    _exit_on_failure(operate.health(hosts, options))


@whole_group
@task(
    help={
        **SHARED_HELP,
        "service": "a container's log instead (web, prosody, jicofo, jvb)",
        "lines": "how many lines (default 50)",
    }
)
def logs(
    c,
    targets="",
    service="",
    lines=50,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Show the health check's log (actions taken), or the log of one service."""
    deployment, hosts, options = _connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    _exit_on_failure(_checked(operate.logs, deployment, hosts, options, service, int(lines)))


@whole_group
@task(help=SHARED_HELP)
def status(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """Show the system services and the containers of every host."""
    _, hosts, options = _connect(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    _exit_on_failure(operate.status(hosts, options))


@whole_group
@task(help={**SHARED_HELP, "service": "one service to restart (default: the whole stack)"})
def restart(
    c,
    targets="",
    service="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Restart the stack, or one of its services, on every host."""
    deployment, hosts, options = _connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    _exit_on_failure(_checked(operate.restart, deployment, hosts, options, service))


@task(help={"env": SHARED_HELP["env"], "inventory": SHARED_HELP["inventory"]})
def monitor_login(c, env=None, inventory=None):
    """Print the status site's address and Uptime Kuma's admin login (from .secrets.env)."""
    deployment = load_or_exit(*settings_paths(env, inventory))
    core = deployment.core
    if core is None or not deployment.sites[core.name].monitoring.enabled:
        raise Exit("No Uptime Kuma here: the inventory has no core host, or ENABLE_MONITORING=0.")
    site = deployment.sites[core.name]
    where = f"https://{site.monitor_hostname}/" if site.monitor_hostname else "no status site"
    print(f"status site: {where}")
    print(f"user:        {ADMIN_USER}")
    print(f"password:    {site.secrets[KUMA_ADMIN_PASSWORD.name]}")
