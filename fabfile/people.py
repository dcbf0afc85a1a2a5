"""Who may meet: user accounts (AUTH_TYPE=internal) and join links with a token (jwt)."""

from __future__ import annotations

from fabric import task
from invoke import Exit

from jitsi_deploy.entry import load_or_exit, settings_paths
from jitsi_deploy.operations import accounts, tokens
from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect

NAME_HELP = "the account: the part before @ of the login (letters, digits, '.', '_', '-')"
PASSWORD_HELP = {
    "password_stdin": "read the password from the first line of stdin instead of asking twice "
    "(stdin that is not a terminal is read anyway)"
}


def _apply(c, targets, env, inventory, known_hosts, trust, command_for, judge_for, name, ask):
    """Check everything, ask for the password if ``ask``, then apply it on the core hosts."""
    deployment, hosts, options = connect(c, targets, env, inventory, known_hosts, trust)
    name = checked(accounts.account_name, name) if name is not None else None
    cores = checked(accounts.user_cores, deployment, hosts)
    arguments = [name] if name is not None else []
    if ask is not None:
        password = checked(accounts.read_new_password, ask)
        checked(accounts.check_password, password)
        arguments.append(password)
    command = command_for(*arguments)
    judge = judge_for(name) if name is not None else judge_for
    outcomes = accounts.run(cores, options, command, judge)
    if not all(outcome.ok for outcome in outcomes):
        raise Exit(code=1)


@whole_group
@task(help={**SHARED_HELP, **PASSWORD_HELP, "name": NAME_HELP})
def user_add(
    c,
    name,
    password_stdin=False,
    targets="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Add an account that may open rooms (ENABLE_AUTH=1, AUTH_TYPE=internal)."""
    _apply(
        c, targets, env, inventory, known_hosts, trust_new_host_keys,
        accounts.add_command, accounts.judge_add, name, password_stdin,
    )  # fmt: skip


@whole_group
@task(help={**SHARED_HELP, **PASSWORD_HELP, "name": NAME_HELP})
def user_passwd(
    c,
    name,
    password_stdin=False,
    targets="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Set a new password for an account; its other sessions are closed."""
    _apply(
        c, targets, env, inventory, known_hosts, trust_new_host_keys,
        accounts.passwd_command, accounts.judge_passwd, name, password_stdin,
    )  # fmt: skip


@whole_group
@task(help={**SHARED_HELP, "name": NAME_HELP})
def user_remove(
    c,
    name,
    targets="",
    env=None,
    inventory=None,
    known_hosts=KNOWN_HOSTS,
    trust_new_host_keys=False,
):
    """Remove an account; its sessions are closed."""
    _apply(
        c, targets, env, inventory, known_hosts, trust_new_host_keys,
        accounts.remove_command, accounts.judge_remove, name, None,
    )  # fmt: skip


@whole_group
@task(help=SHARED_HELP)
def user_list(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """List the accounts, one name a line."""
    _apply(
        c, targets, env, inventory, known_hosts, trust_new_host_keys,
        accounts.list_command, accounts.judge_list, None, None,
    )  # fmt: skip


@task(
    help={
        "room": "the room the link opens (a room name), or '*' for every room",
        "hours": f"how long the link works, 1 to {tokens.MAX_HOURS} (default 24)",
        "env": SHARED_HELP["env"],
        "inventory": SHARED_HELP["inventory"],
    }
)
def token(c, room, hours=24, env=None, inventory=None):
    """Print a join link with a signed token (AUTH_TYPE=jwt); nothing is sent anywhere."""
    deployment = load_or_exit(*settings_paths(env, inventory))
    if deployment.core is None:
        raise Exit("The inventory has no core host: there is no site to make a link for.")
    site = deployment.sites[deployment.core.name]
    print(checked(tokens.join_link, site, room, int(hours)))
