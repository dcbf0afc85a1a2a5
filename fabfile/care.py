"""Look after running hosts: restart."""

from __future__ import annotations

from fabric import task

from jitsi_deploy.deploy import operate
from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, exit_on_failure


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
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    exit_on_failure(checked(operate.restart, deployment, hosts, options, service))
