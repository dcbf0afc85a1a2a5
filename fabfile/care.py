"""Look after running hosts: restart, drain, update, rotate-secrets, backup, restore, uninstall."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit

from jitsi_deploy.errors import DeployError
from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, entry, exit_on_failure, lazy, task
from .deploy import (
    OUTPUT_HELP,
    SETTLE_SECONDS,
    console_for,
    converge,
    run_smoke,
    smoke_results,
    succeeded,
)

operate = lazy("jitsi_deploy.deploy.operate")
services = lazy("jitsi_deploy.model.services")
archive_ops = lazy("jitsi_deploy.operations.archive")
backup_ops = lazy("jitsi_deploy.operations.backup")
drains = lazy("jitsi_deploy.operations.drain")
os_updates = lazy("jitsi_deploy.operations.os_updates")
refresh = lazy("jitsi_deploy.operations.refresh")
rotation_ops = lazy("jitsi_deploy.operations.rotation")
uninstalls = lazy("jitsi_deploy.operations.uninstall")
updates = lazy("jitsi_deploy.operations.update")
transport = lazy("jitsi_deploy.remote.transport")
envfile = lazy("jitsi_deploy.settings.envfile")

# How long `fab drain` and `fab update` wait for a bridge's meetings to end before stopping it.
DRAIN_TIMEOUT = 30 * 60


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
        "timeout": "seconds to wait for the bridge's meetings to end before it stops anyway "
        f"(default {DRAIN_TIMEOUT})",
    }
)
def drain(
    c,
    targets="",
    timeout=DRAIN_TIMEOUT,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Take a video bridge out of service: no new meetings, stopped once its meetings ended."""
    if not targets:
        raise Exit("Name the bridge host(s) to drain: fab -H HOST drain; nothing was touched.")
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    checked(drains.check_targets, deployment, hosts)
    failed = False
    for host in hosts:  # one at a time: the others keep taking the new meetings
        drained = drains.drain_one(host, options, _say, float(timeout))
        print(drained.summary(), flush=True)
        failed = failed or bool(drained.error)
    if failed:
        raise Exit(code=1)
    print("A deploy of these hosts starts their bridges again.")


def _say(line: str) -> None:
    print(line, flush=True)


@whole_group
@task(
    help={
        **SHARED_HELP,
        "version": "the release to move to (default: JITSI_IMAGE_VERSION of the settings)",
        "bundle": "offline image bundle holding the release, for hosts with IMAGE_SOURCE=bundle",
        "wait": f"seconds the release gets to pass the smoke checks (default {SETTLE_SECONDS})",
        "ca_file": "trust this CA file (a private CA) for the site's certificate",
        "resolve": "connect to ADDRESS:PORT instead of what DNS says for the site (curl --resolve)",
        "os": "first apply each host's security updates and say whether a reboot is due",
        "drain_timeout": "seconds each bridge host's meetings get to end before its bridge is "
        f"recreated (default {DRAIN_TIMEOUT})",
        **OUTPUT_HELP,
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
    os=False,
    drain_timeout=DRAIN_TIMEOUT,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
    quiet=False,
    verbose=False,
):
    """Move every host to another pinned release; roll back by itself when it does not pass.
    Bridge hosts go one at a time after the core, each drained first (see fab drain)."""
    console = console_for(quiet, verbose)
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
    if os:
        _security_updates(hosts, options, console)

    def prove(target, chosen, wait):
        print("\nSmoke checks:", flush=True)
        return smoke_results(target, chosen, options, ca_file, resolve, wait=wait, quiet=quiet)

    def deploy(target, chosen):
        def drain(bridge):
            image = services.JVB.image(target.sites[bridge.name].images)
            drained = drains.drain_one(bridge, options, _say, float(drain_timeout), image)
            print(drained.summary(), flush=True)
            return drained

        def deploy_some(some):
            return converge(target, some, options, console=console)

        return drains.rolling(chosen, deploy_some, drain)

    rebuilds = updates.Rebuilds(
        fetch=lambda target, chosen: refresh.fetch_all(target, chosen, options),
        restore=lambda target, chosen: refresh.restore_all(target, chosen, options),
    )
    done = updates.update(
        deployment, hosts, version, previous, deploy, prove, float(wait), rebuilds
    )
    if done.fetch_failed:
        raise Exit(f"\nNothing was recreated: {version} could not be fetched (above).", code=1)
    if not done.succeeded:
        raise Exit(f"\nThe update to {version} was rolled back; see the checks above.", code=1)
    _record_version(entry.settings_paths(env, inventory)[0], deployment, version)


def _security_updates(hosts, options, console) -> None:
    """The hosts' security updates before the release moves; a host that failed stops here."""
    print(f"Applying the security updates of {len(hosts)} host(s).", flush=True)
    results = os_updates.apply_all(hosts, options, console.say)
    for result in results:
        print(result.summary())
        print("".join(f"  {package}\n" for package in result.changed), end="", flush=True)
    if any(result.error for result in results):
        raise Exit("\nNo release was changed; see the failed security updates above.", code=1)


def _record_version(env_path: Path, deployment, version: str) -> None:
    """The settings name the release the hosts now run, so the next deploy keeps it."""
    if any(site.images.jitsi_version != version for site in deployment.sites.values()):
        envfile.set_setting(env_path, "JITSI_IMAGE_VERSION", version)
        print(f"\nUpdated to {version}; {env_path} now says JITSI_IMAGE_VERSION={version}.")
    else:
        print(f"\nEvery host runs {version}.")


@whole_group
@task(
    help={
        **SHARED_HELP,
        "wait": f"seconds the stack gets to pass the smoke checks after (default {SETTLE_SECONDS})",
        "ca_file": "trust this CA file (a private CA) for the site's certificate",
        "resolve": "connect to ADDRESS:PORT instead of what DNS says for the site (curl --resolve)",
        **OUTPUT_HELP,
    }
)
def rotate_secrets(
    c,
    targets="",
    wait=SETTLE_SECONDS,
    ca_file="",
    resolve="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
    quiet=False,
    verbose=False,
):
    """New XMPP passwords for jicofo and the bridges, a new TURN secret: set, then deployed."""
    console = console_for(quiet, verbose)
    if targets:
        raise Exit("rotate-secrets works on the whole inventory (every bridge needs the new "
                   "password): run it without -H.")  # fmt: skip
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    if deployment.core is None:
        raise Exit("The inventory has no core host, whose Prosody keeps the accounts.")
    secrets_path = entry.settings_paths(env, inventory)[0].parent / entry.SECRETS_NAME
    core_site = deployment.sites[deployment.core.name]
    rotation = rotation_ops.rotate_file(secrets_path, rotation_ops.rotated_secrets(core_site))
    print(f"Kept the previous secrets in {rotation.backup} (mode 0600).")
    _set_accounts(deployment.core, options, secrets_path, rotation)
    rotated = entry.load_or_exit(*entry.settings_paths(env, inventory))
    if not succeeded(converge(rotated, hosts, options, console=console)):
        raise Exit("The accounts have the new passwords: run `fab deploy` to give them to the "
                   "hosts that failed.", code=1)  # fmt: skip
    print("\nSmoke checks:", flush=True)
    run_smoke(rotated, hosts, options, ca_file, resolve, wait=float(wait), quiet=quiet)


def _set_accounts(core, options, secrets_path: Path, rotation) -> None:
    """The new passwords on the core's accounts; the file goes back when none took them."""
    remote = transport.Remote(
        core, options.known_hosts, options.trust_new_host_keys, options.ssh_config
    )
    try:
        outcomes = rotation_ops.set_accounts(remote, rotation.accounts)
    except DeployError as error:
        outcomes, trouble = [], str(error)
    else:
        trouble = next((o.output for o in outcomes if o.status != "changed"), "")
    finally:
        remote.close()
    done = [o.change.summary for o in outcomes if o.status == "changed"]
    if not trouble and len(done) == len(rotation.accounts):
        print("\n".join(done))
        return
    if not done:
        rotation_ops.restore_file(secrets_path, rotation)
        raise Exit(f"Nothing was rotated ({secrets_path} is as it was):\n{trouble}")
    raise Exit(
        f"Only some accounts took their new password ({'; '.join(done)}):\n{trouble}\n"
        "Fix that and run `fab rotate-secrets` again: until then jicofo or the bridges may "
        "fail to log in."
    )


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
        **OUTPUT_HELP,
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
    quiet=False,
    verbose=False,
):
    """Verify an archive, put its data on the host it came from (or -H another), then deploy."""
    console = console_for(quiet, verbose)
    if not from_:
        raise Exit("Name the archive to restore: fab restore --from ARCHIVE [-H HOST]")
    archive = Path(from_)
    keys = checked(backup_ops.read_identities, identity)
    try:
        manifest = backup_ops.verify_file(archive, keys)
    except archive_ops.ArchiveError as error:
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
    remote = transport.Remote(
        host, options.known_hosts, options.trust_new_host_keys, options.ssh_config
    )
    try:
        backup_ops.restore_to_host(remote, archive, keys, manifest, backup_ops.say)
    except (DeployError, OSError) as error:
        raise Exit(f"{host.name}: restore failed: {error}") from None
    finally:
        remote.close()
    print(f"{host.name}: data restored; converging it with a deploy")
    if not succeeded(converge(deployment, [host], options, console=console)):
        raise Exit(code=1)
    if not no_smoke:
        print("\nSmoke checks (skip them with --no-smoke):")
        run_smoke(deployment, [host], options, wait=SETTLE_SECONDS, quiet=quiet)


@whole_group
@task(
    help={
        **SHARED_HELP,
        "purge": "also remove the settings, secrets, accounts, volumes, archives, logs and "
        "certificates the uninstall keeps",
        "check": "show what would be removed and remove nothing",
    }
)
def uninstall(
    c,
    targets="",
    purge=False,
    check=False,
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Take the site off the hosts named with -H (every meeting on them ends); SSH stays open."""
    if not targets:
        raise Exit("Name the host(s) to uninstall: fab -H HOST uninstall; nothing was touched.")
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    results = uninstalls.uninstall_hosts(deployment, hosts, options, purge, check)
    for result in results:
        print(uninstalls.report(result, check), flush=True)
    if any(result.error for result in results):
        raise Exit(code=1)
