"""Who may meet: user accounts (AUTH_TYPE=internal) and join links with a token (jwt)."""

from __future__ import annotations

from invoke import Exit

from jitsi_deploy.remote.group_executor import whole_group

from .common import KNOWN_HOSTS, SHARED_HELP, checked, connect, entry, lazy, task

accounts = lazy("jitsi_deploy.operations.accounts")
tokens = lazy("jitsi_deploy.operations.tokens")

NAME_HELP = "the account: the part before @ of the login (letters, digits, '.', '_', '-')"
PASSWORD_HELP = {
    "password_stdin": "read the password from the first line of stdin instead of asking twice "
    "(stdin that is not a terminal is read anyway)"
}


def _cores(c, targets, env, inventory, known_hosts, trust_new_host_keys):
    """The core hosts whose Prosody keeps the accounts, and how to reach them."""
    deployment, hosts, options = connect(
        c, targets, env, inventory, known_hosts, trust_new_host_keys
    )
    return checked(accounts.user_cores, deployment, hosts), options


def _new_password(from_stdin: bool) -> str:
    password = checked(accounts.read_new_password, from_stdin)
    checked(accounts.check_password, password)
    return password


def _run(cores, options, command, judge) -> None:
    if not all(outcome.ok for outcome in accounts.run(cores, options, command, judge)):
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
    cores, options = _cores(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    name = checked(accounts.account_name, name)
    command = accounts.add_command(name, _new_password(password_stdin))
    _run(cores, options, command, accounts.judge_add(name))


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
    """Set a new password for an account; its open sessions are closed."""
    cores, options = _cores(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    name = checked(accounts.account_name, name)
    command = accounts.passwd_command(name, _new_password(password_stdin))
    _run(cores, options, command, accounts.judge_passwd(name))


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
    cores, options = _cores(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    name = checked(accounts.account_name, name)
    _run(cores, options, accounts.remove_command(name), accounts.judge_remove(name))


@whole_group
@task(help=SHARED_HELP)
def user_list(
    c, targets="", env=None, inventory=None, known_hosts=KNOWN_HOSTS, trust_new_host_keys=False
):
    """List the accounts, one name a line."""
    cores, options = _cores(c, targets, env, inventory, known_hosts, trust_new_host_keys)
    _run(cores, options, accounts.list_command(), accounts.judge_list)


@task(
    help={
        "room": "the room the link opens (a room name), or '*' for every room",
        # tokens.MAX_HOURS, written out: reading it would load the settings for every task.
        "hours": "how long the link works, 1 to 720 (default 24)",
        "env": SHARED_HELP["env"],
        "inventory": SHARED_HELP["inventory"],
    }
)
def token(c, room, hours=24, env=None, inventory=None):
    """Print a join link with a signed token (AUTH_TYPE=jwt); nothing is sent anywhere."""
    deployment = entry.load_or_exit(*entry.settings_paths(env, inventory))
    if deployment.core is None:
        raise Exit("The inventory has no core host: there is no site to make a link for.")
    site = deployment.sites[deployment.core.name]
    print(checked(tokens.join_link, site, room, int(hours)))
