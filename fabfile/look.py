"""Look at running hosts: status, health, logs, the monitoring login."""

from __future__ import annotations

from invoke import Exit

from jitsi_deploy.errors import DeployError
from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, entry, exit_on_failure, lazy, task

operate = lazy("jitsi_deploy.deploy.operate")
monitoring = lazy("jitsi_deploy.deploy.monitoring")
services = lazy("jitsi_deploy.model.services")
status_views = lazy("jitsi_deploy.operations.status_views")
status_ops = lazy("jitsi_deploy.operations.status")
report_ops = lazy("jitsi_deploy.operations.report")


@whole_group
@task(help=SHARED_HELP)
def health(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """Run the health checks now on every host: what is healthy, what not, recent actions."""
    _, hosts, options = connect(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    exit_on_failure(operate.health(hosts, options))


@whole_group
@task(
    help={
        **SHARED_HELP,
        # Not listed here: naming them loads the model for every task (a wrong name lists them).
        "service": "a container's log instead, by service name (web, prosody, jvb, …)",
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
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    exit_on_failure(checked(operate.logs, deployment, hosts, options, service, int(lines)))


@whole_group
@task(help={**SHARED_HELP, "json": "print the same as JSON, for scripts"})
def status(
    c,
    targets="",
    env=None,
    inventory=None,
    json=False,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """One table of every host: each service's state, health, image, uptime and restarts;
    certificates, disk, memory, jicofo's bridges and conferences, the health check's actions."""
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    statuses = status_ops.read_status(deployment, hosts, options)
    print(status_views.as_json(statuses) if json else status_views.table(statuses), flush=True)
    if not all(s.ok for s in statuses):
        raise Exit(code=1)


@task(
    help={
        **{key: text for key, text in SHARED_HELP.items() if key != "targets"},
        "since": "only meetings that started on this day or later (YYYY-MM-DD, UTC)",
        "room": "only this room's meetings",
        "csv": "one line per meeting, as CSV, instead of the tables",
    }
)
def report(
    c,
    since="",
    room="",
    csv=False,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """The meeting history (ENABLE_MEETING_HISTORY=1): meetings per day and per room, their
    durations and peak participants; no names, ever."""
    arguments = checked(report_ops.report_arguments, since, room, csv)
    deployment, _, options = connect(c, "", env, inventory, known_hosts, trust_new_host_keys)
    core = checked(report_ops.history_core, deployment)
    try:
        print(report_ops.read_report(core, options, arguments), end="", flush=True)
    except DeployError as error:
        raise Exit(str(error)) from None


@task(help={"env": SHARED_HELP["env"], "inventory": SHARED_HELP["inventory"]})
def monitor_login(c, env=None, inventory=None):
    """Print the status site's address and Uptime Kuma's admin login (from .secrets.env)."""
    deployment = entry.load_or_exit(*entry.settings_paths(env, inventory))
    core = deployment.core
    if core is None or not deployment.sites[core.name].monitoring.enabled:
        raise Exit("No Uptime Kuma here: the inventory has no core host, or ENABLE_MONITORING=0.")
    site = deployment.sites[core.name]
    where = f"https://{site.monitor_hostname}/" if site.monitor_hostname else "no status site"
    print(f"status site: {where}")
    print(f"user:        {monitoring.ADMIN_USER}")
    print(f"password:    {site.secrets[services.KUMA_ADMIN_PASSWORD.name]}")
