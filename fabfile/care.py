"""Look after running hosts: restart, update."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fabric import task
from invoke import Exit

from jitsi_deploy.deploy import operate
from jitsi_deploy.deploy.fleet import print_recap, run_all, say
from jitsi_deploy.deploy.host import deploy_host
from jitsi_deploy.entry import settings_paths
from jitsi_deploy.errors import DeployError
from jitsi_deploy.operations import update as updates
from jitsi_deploy.remote.group_executor import whole_group
from jitsi_deploy.settings.envfile import set_setting
from jitsi_deploy.smoke import report
from jitsi_deploy.smoke.run import smoke as smoke_checks

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, exit_on_failure
from .deploy import SETTLE_SECONDS


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


@whole_group
@task(
    help={
        **SHARED_HELP,
        "version": "the release to move to (default: JITSI_IMAGE_VERSION of the settings)",
        "bundle": "offline image bundle holding the release, for hosts with IMAGE_SOURCE=bundle",
        "wait": f"seconds the release gets to pass the smoke checks (default {SETTLE_SECONDS})",
        "ca_file": "trust this CA file (a private CA) for the site's certificate",
        "resolve": "connect to ADDRESS:PORT instead of what DNS says for the site (curl --resolve)",
    }
)
def update(
    c,
    targets="",
    version="",
    bundle=None,
    wait=SETTLE_SECONDS,
    ca_file="",
    resolve="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Move every host to another pinned release; roll back by itself when it does not pass."""
    deployment, hosts, options = connect(
        c,
        targets,
        env,
        inventory,
        known_hosts,
        trust_new_host_keys,
        bundle=Path(bundle) if bundle else None,
    )
    version = version or deployment.sites[hosts[0].name].images.jitsi_version
    checked(updates.check_version, version)
    try:
        previous = updates.running_versions(hosts, options)
    except DeployError as error:
        raise Exit(str(error)) from None

    def converge(target, chosen):
        reports = run_all(chosen, partial(deploy_host, target, options=options, say=say))
        print_recap(reports, check=False)
        return reports

    def prove(target, chosen, wait):
        print("\nSmoke checks:", flush=True)
        results = checked(smoke_checks, target, chosen, options, ca_file, resolve, wait)
        print("\n".join(report.lines(results)), flush=True)
        return results

    done = updates.update(deployment, hosts, version, previous, converge, prove, float(wait))
    if not done.succeeded:
        raise Exit(f"\nThe update to {version} was rolled back; see the checks above.", code=1)
    _record_version(settings_paths(env, inventory)[0], deployment, version)


def _record_version(env_path: Path, deployment, version: str) -> None:
    """The settings name the release the hosts now run, so the next deploy keeps it."""
    if any(site.images.jitsi_version != version for site in deployment.sites.values()):
        set_setting(env_path, "JITSI_IMAGE_VERSION", version)
        print(f"\nUpdated to {version}; {env_path} now says JITSI_IMAGE_VERSION={version}.")
    else:
        print(f"\nEvery host runs {version}.")
