"""The meeting's user accounts (ENABLE_AUTH=1, AUTH_TYPE=internal): add, remove, list and
change a password, with prosodyctl in the prosody container of each core host.

The password is never an argument. prosodyctl's `register USER HOST PASSWORD` takes it as one,
so it is not used; `adduser JID` and `passwd JID` read it, twice, from stdin instead, on Prosody
0.12 (straight into the storage) and 13 (through the running server's admin shell) alike. It
travels in the script fed to `sh -s` over SSH, as a here-document that becomes the stdin of
`docker exec -i`: in no process's argv, on this machine or on the host.

Accounts live in the prosody storage volume (/var/lib/prosody), so they survive restarts and
redeploys. Prosody 13 closes a user's open sessions when the account is removed or its password
is set (mod_c2s), so neither lingers.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable
from typing import TextIO

from ..deploy.host import Options
from ..deploy.operate import HostOutput, Judge, on_hosts
from ..deploy.runner import command_lines
from ..errors import ConfigError, Problem
from ..model.services import XMPP_DOMAIN, container_name
from ..remote.commands import Command
from ..remote.transport import Output
from ..settings.inventory import Host
from ..settings.passwords import password_weakness
from ..settings.site import Deployment

# Where the image's config step renders Prosody's configuration (prosody/rootfs/etc/s6-overlay/
# scripts/config at stable-11146-2); the image has no /etc/prosody.
PROSODY_CONFIG = "/run/prosody/config/prosody.cfg.lua"
PROSODYCTL = (
    "docker", "exec", "-i", container_name("prosody"), "prosodyctl", "--config", PROSODY_CONFIG,
)  # fmt: skip
# An XMPP local part every client and Prosody's nodeprep keep as it is.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
MAX_PASSWORD_LENGTH = 256
_STDIN_MARKER = "JITSI_DEPLOY_PASSWORD"


def account_name(raw: str) -> str:
    """The account name ``raw`` gives, lower-cased; ConfigError when it is not one."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name):
        message = (
            "is not an account name. Use letters, digits, '.', '_' and '-', starting and ending "
            "with a letter or digit, at most 64 characters (the part before @ of the login)."
        )
        raise ConfigError([Problem("NAME", repr(raw), message)])
    return name


def check_password(password: str) -> None:
    """Refuse a password that is empty, unprintable, very long or easy to guess."""
    why = ""
    if not password:
        why = "is empty. Type it at the prompt, or give it as the one line of stdin."
    elif any(not character.isprintable() for character in password):
        why = "holds a control character (a tab, an escape). Use printable characters only."
    elif len(password) > MAX_PASSWORD_LENGTH:
        why = f"is longer than {MAX_PASSWORD_LENGTH} characters."
    elif weakness := password_weakness(password):
        why = f"{weakness}. Choose a longer one, e.g. four unrelated words."
    if why:
        raise ConfigError([Problem("password", "-", f"the password {why}")])


def read_new_password(
    from_stdin: bool, stdin: TextIO | None = None, ask: Callable[[str], str] = getpass.getpass
) -> str:
    """The new password: asked twice at the terminal (not echoed), or the first line of stdin
    with ``from_stdin`` or when stdin is not a terminal (a pipe, a file)."""
    stdin = stdin or sys.stdin
    if from_stdin or not stdin.isatty():
        return stdin.readline().removesuffix("\n").removesuffix("\r")
    password = ask("New password: ")
    if ask("Once more: ") != password:
        raise ConfigError([Problem("password", "-", "the two passwords differ; nothing changed.")])
    return password


def user_cores(deployment: Deployment, hosts: list[Host]) -> list[Host]:
    """The core hosts among ``hosts``, where Prosody keeps the accounts; ConfigError unless
    they run internal authentication (nothing else has accounts to manage here)."""
    cores = [host for host in hosts if host.role == "core"]
    if not cores:
        names = ", ".join(host.name for host in hosts)
        message = f"none of {names} is a core host: accounts live in the core's Prosody."
        raise ConfigError([Problem("-H", names, message)])
    problems = []
    for host in cores:
        auth = deployment.sites[host.name].auth
        if not auth.enabled:
            message = (
                "is 0: anyone may open rooms and there are no accounts. Set ENABLE_AUTH=1 "
                "(and AUTH_TYPE=internal) and deploy, then add users."
            )
            problems.append(Problem(host.name, "ENABLE_AUTH", message))
        elif auth.type != "internal":
            message = f"is {auth.type}: accounts are kept in Prosody only with AUTH_TYPE=internal."
            if auth.type == "jwt":
                message += " With jwt, give people a link from `fab token ROOM`."
            problems.append(Problem(host.name, "AUTH_TYPE", message))
    if problems:
        raise ConfigError(problems)
    return cores


def jid(name: str) -> str:
    return f"{name}@{XMPP_DOMAIN}"


def add_command(name: str, password: str) -> Command:
    return Command((*PROSODYCTL, "adduser", jid(name)), f"add {jid(name)}", _twice(password))


def passwd_command(name: str, password: str) -> Command:
    return password_command(jid(name), password)


def password_command(account: str, password: str) -> Command:
    """Set the password of ``account``, a whole JID (service accounts live on another domain)."""
    description = f"set the password of {account}"
    return Command((*PROSODYCTL, "passwd", account), description, _twice(password))


def remove_command(name: str) -> Command:
    return Command((*PROSODYCTL, "deluser", jid(name)), f"remove {jid(name)}")


def list_command() -> Command:
    return Command((*PROSODYCTL, "shell", "user", "list", XMPP_DOMAIN), "list the accounts")


def _twice(password: str) -> bytes:
    """What prosodyctl's password prompt reads: the password, then again to confirm it."""
    if "\n" in password or "\r" in password:
        raise ValueError("a password is one line")  # check_password refuses it before this
    return f"{password}\n{password}\n".encode()


def script(command: Command) -> str:
    """The command as the script a host runs; its stdin becomes a here-document."""
    return "\n".join(command_lines(command, "exit $?", _STDIN_MARKER)) + "\n"


def run(hosts: list[Host], options: Options, command: Command, judge: Judge) -> list[HostOutput]:
    """Run ``command`` on every host in parallel (one round trip each) and print how it went."""
    return on_hosts(hosts, options, script(command), judge)


# How prosodyctl says the account is there, or not: Prosody 13 ("Error: User exists", "Error:
# No such user") and 0.12 ("That user already exists", "That user does not exist ...").
_EXISTS = re.compile(r"User exists|user already exists")
_MISSING = re.compile(r"No such user|user does not exist")
_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
_PROMPTS = re.compile(r"(Enter new password|Retype new password): ")


def prosodyctl_text(output: Output) -> str:
    """prosodyctl's answer without its password prompts and terminal escapes."""
    text = _PROMPTS.sub("", _ESCAPES.sub("", output.stdout + output.stderr))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _trouble(text: str) -> str:
    """What a failure that has nothing to do with the account means, or ''."""
    if "No such container" in text or "is not running" in text:
        return f"the {container_name('prosody')} container is not running: deploy (fab deploy)"
    if "Unable to connect to server" in text:
        return "Prosody is not running in its container: see fab health, fab logs --service prosody"
    return ""


def judge_add(name: str) -> Judge:
    def judge(output: Output) -> tuple[bool, str]:
        text = prosodyctl_text(output)
        if output.exit_code == 0:
            return True, f"added {jid(name)}"
        if _EXISTS.search(text):
            return False, f"{jid(name)} exists already; change its password: fab user-passwd {name}"
        return False, _trouble(text) or text

    return judge


def judge_passwd(name: str) -> Judge:
    def judge(output: Output) -> tuple[bool, str]:
        text = prosodyctl_text(output)
        if output.exit_code == 0:
            return True, f"changed the password of {jid(name)} (its open sessions are closed)"
        if _MISSING.search(text):
            return False, f"there is no {jid(name)}; add it: fab user-add {name}"
        return False, _trouble(text) or text

    return judge


def judge_remove(name: str) -> Judge:
    """Removing an account that is not there leaves what was wanted: it is not a failure."""

    def judge(output: Output) -> tuple[bool, str]:
        text = prosodyctl_text(output)
        if output.exit_code == 0:
            return True, f"removed {jid(name)} (its sessions are closed)"
        if _MISSING.search(text):
            return True, f"there is no {jid(name)}: nothing to remove"
        return False, _trouble(text) or text

    return judge


def judge_list(output: Output) -> tuple[bool, str]:
    text = prosodyctl_text(output)
    if output.exit_code != 0:
        return False, _trouble(text) or text
    suffix = f"@{XMPP_DOMAIN}"
    names = sorted(line[: -len(suffix)] for line in text.splitlines() if line.endswith(suffix))
    return True, "\n".join(names) if names else f"no accounts on {XMPP_DOMAIN}"
