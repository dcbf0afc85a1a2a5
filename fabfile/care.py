"""Look after running hosts: restart, backup, restore."""

from __future__ import annotations

from pathlib import Path

from fabric import task
from invoke import Exit

from jitsi_deploy.deploy import operate
from jitsi_deploy.deploy.fleet import print_recap, say
from jitsi_deploy.deploy.host import deploy_host
from jitsi_deploy.errors import DeployError
from jitsi_deploy.operations import backup as backup_ops
from jitsi_deploy.operations.archive import ArchiveError
from jitsi_deploy.remote.group_executor import whole_group
from jitsi_deploy.remote.transport import Remote

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, exit_on_failure
from .deploy import SETTLE_SECONDS, run_smoke


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
        "to": "local folder of the archives, one subfolder per host (default: backups)",
        "encrypt_to": "encrypt to this age or SSH public key, or the keys in this file",
        "keep_daily": "keep the newest archive of each of this many latest days (default: 7)",
        "keep_weekly": "keep the newest archive of each of this many latest weeks (default: 4)",
    }
)
def backup(
    c,
    targets="",
    to="backups",
    encrypt_to="",
    keep_daily=7,
    keep_weekly=4,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Back up every host (settings, secrets, accounts, monitors, certificates) to this machine."""
    _, hosts, options = connect(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    keys = checked(backup_ops.read_keys, encrypt_to)
    retention = checked(backup_ops.retention_of, keep_daily, keep_weekly)
    results = backup_ops.backup_hosts(hosts, options, Path(to), keys, retention)
    if not backup_ops.print_backups(results):
        raise Exit(code=1)


@whole_group
@task(
    help={
        **SHARED_HELP,
        "from": "the archive fab backup made",
        "identity": "the age identity file or OpenSSH private key of an encrypted archive",
        "bundle": "offline image bundle (docker save) for hosts with IMAGE_SOURCE=bundle",
        "no_smoke": "skip the smoke checks (fab smoke) that follow the deploy",
    }
)
def restore(
    c,
    from_="",
    targets="",
    identity="",
    env=None,
    inventory=None,
    bundle=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
    no_smoke=False,
):
    """Verify an archive, put its data on the host it came from (or -H another), then deploy."""
    if not from_:
        raise Exit("Name the archive to restore: fab restore --from ARCHIVE [-H HOST]")
    archive = Path(from_)
    keys = checked(backup_ops.read_identities, identity)
    try:
        manifest = backup_ops.verify_file(archive, keys)
    except ArchiveError as error:
        raise Exit(f"Refused {archive}; nothing was touched:\n  {error}") from None
    print(
        f"{archive}: verified, {len(manifest.members)} members of {manifest.host} "
        f"from {manifest.created}"
    )
    deployment, hosts, options = connect(
        c,
        targets or manifest.host,
        env,
        inventory,
        known_hosts,
        trust_new_host_keys,
        bundle=Path(bundle) if bundle else None,
    )
    if len(hosts) != 1:
        raise Exit("Restore one host at a time: name it with -H; nothing was touched.")
    host = hosts[0]
    deployment = backup_ops.in_place_of(deployment, host, manifest.host)
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        backup_ops.restore_to_host(remote, archive, keys, manifest, backup_ops.say)
    except (DeployError, OSError) as error:
        raise Exit(f"{host.name}: restore failed: {error}") from None
    finally:
        remote.close()
    print(f"{host.name}: data restored; converging it with a deploy")
    report = deploy_host(deployment, host, options, say)
    if not print_recap([report], check=False):
        raise Exit(code=1)
    if not no_smoke:
        print("\nSmoke checks (skip them with --no-smoke):")
        run_smoke(deployment, [host], options, wait=SETTLE_SECONDS)
