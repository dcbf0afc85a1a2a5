"""User accounts: names and passwords checked before anything is touched, the commands built for
the core's Prosody, and the password never in a command line (a real `sh` runs the script)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations import accounts
from jitsi_deploy.remote.transport import Output
from tests.unit.sites import fab, site_with

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(("raw", "name"), [("alice", "alice"), (" Bob.Smith-2 ", "bob.smith-2")])
def test_account_names_are_lower_cased(raw: str, name: str) -> None:
    assert accounts.account_name(raw) == name


@pytest.mark.parametrize(
    "raw",
    ["", "a b", "alice@meet.jitsi", "-alice", "alice.", "zoë", "a/b", "a:b", "a\nb", "x" * 65],
)
def test_a_bad_account_name_is_refused_with_the_rule(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"is not an account name\. Use letters, digits"):
        accounts.account_name(raw)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("", "is empty"),
        ("tab\tinside a long password", "control character"),
        ("x" * 257, "longer than 256"),
        ("short1", "too short"),
        ("password1234", "easy to guess"),
    ],
)
def test_a_weak_or_broken_password_is_refused(password: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        accounts.check_password(password)


def test_a_good_password_passes() -> None:
    accounts.check_password(PASSWORD)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_password_is_the_first_line_of_stdin_when_it_is_not_a_terminal() -> None:
    def never(prompt: str) -> str:
        raise AssertionError("asked at a terminal")

    stdin = io.StringIO(f"{PASSWORD}\r\nsecond line\n")
    assert accounts.read_new_password(False, stdin, never) == PASSWORD


def test_at_a_terminal_the_password_is_asked_twice() -> None:
    answers = iter([PASSWORD, PASSWORD])
    assert accounts.read_new_password(False, _Terminal(), lambda _: next(answers)) == PASSWORD
    answers = iter([PASSWORD, "something else"])
    with pytest.raises(ConfigError, match="the two passwords differ"):
        accounts.read_new_password(False, _Terminal(), lambda _: next(answers))


def test_password_stdin_reads_stdin_even_at_a_terminal() -> None:
    assert accounts.read_new_password(True, _Terminal(f"{PASSWORD}\n")) == PASSWORD


def test_accounts_are_refused_without_authentication(tmp_path: Path) -> None:
    deployment = site_with(tmp_path, ENABLE_AUTH="0")
    with pytest.raises(ConfigError, match="ENABLE_AUTH: is 0: anyone may open rooms"):
        accounts.user_cores(deployment, list(deployment.hosts))


def test_accounts_are_refused_with_jwt_which_points_at_tokens(tmp_path: Path) -> None:
    deployment = site_with(tmp_path, ENABLE_AUTH="1", AUTH_TYPE="jwt")
    with pytest.raises(ConfigError, match=r"only with AUTH_TYPE=internal\. .*fab token ROOM"):
        accounts.user_cores(deployment, list(deployment.hosts))


def test_accounts_go_to_the_core_only(tmp_path: Path) -> None:
    deployment = site_with(tmp_path, ENABLE_AUTH="1")
    assert [h.name for h in accounts.user_cores(deployment, list(deployment.hosts))] == [
        "meet.example.org"
    ]
    bridges = [h for h in deployment.hosts if h.role == "jvb"]
    with pytest.raises(ConfigError, match="is a core host"):
        accounts.user_cores(deployment, bridges)


def test_the_commands_run_prosodyctl_in_the_prosody_container() -> None:
    prefix = (
        "docker", "exec", "-i", "jitsi-prosody",
        "prosodyctl", "--config", "/run/prosody/config/prosody.cfg.lua",
    )  # fmt: skip
    assert accounts.add_command("alice", PASSWORD).argv == (*prefix, "adduser", "alice@meet.jitsi")
    assert accounts.passwd_command("alice", PASSWORD).argv == (
        *prefix,
        "passwd",
        "alice@meet.jitsi",
    )
    assert accounts.remove_command("alice").argv == (*prefix, "deluser", "alice@meet.jitsi")
    assert accounts.list_command().argv == (*prefix, "shell", "user", "list", "meet.jitsi")


@pytest.mark.parametrize("make", [accounts.add_command, accounts.passwd_command])
def test_the_password_goes_on_stdin_twice_never_in_argv(make) -> None:
    command = make("alice", PASSWORD)
    assert not any(PASSWORD in argument for argument in command.argv)
    assert command.stdin == f"{PASSWORD}\n{PASSWORD}\n".encode()
    first_line, *body = accounts.script(command).splitlines()
    assert PASSWORD not in first_line
    assert body == [PASSWORD, PASSWORD, "JITSI_DEPLOY_PASSWORD"]


def test_on_the_host_the_password_reaches_docker_on_stdin_only(tmp_path: Path) -> None:
    """The script as the host's `sh -s` runs it. `docker` is a stub that records its argv and
    stdin (no container runs in a unit test); the shell, its here-document and the quoting are
    real. A password with shell syntax in it stays inert."""
    tricky = 'it\'s $(touch pwned) `id` "quoted" ; ok'
    stub = tmp_path / "docker"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD.argv"\ncat > "$RECORD.stdin"\n')
    stub.chmod(0o755)
    record = tmp_path / "record"
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "RECORD": str(record)}
    script = accounts.script(accounts.add_command("alice", tricky))
    done = subprocess.run(
        ["sh", "-s"], input=script, text=True, env=environment, cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    argv = Path(f"{record}.argv").read_text()
    assert tricky not in argv and "adduser\nalice@meet.jitsi" in argv
    assert Path(f"{record}.stdin").read_text() == f"{tricky}\n{tricky}\n"
    assert not (tmp_path / "pwned").exists()


def _output(code: int, stdout: str = "", stderr: str = "") -> Output:
    return Output(code, stdout, stderr)


# What Prosody 13's prosodyctl printed in the stand-in (its prompts and escapes included).
PROMPTS = "Enter new password: \x1b[08m\x1b[00m\nRetype new password: \x1b[08m\x1b[00m\n"


def test_the_answers_are_read_without_prompts_or_escapes() -> None:
    created = _output(0, PROMPTS + "OK: Created alice@meet.jitsi with role 'prosody:member'\n")
    assert accounts.judge_add("alice")(created) == (True, "added alice@meet.jitsi")
    exists = _output(1, PROMPTS, "Error: User exists\n")
    ok, text = accounts.judge_add("alice")(exists)
    assert not ok and "exists already" in text and "fab user-passwd alice" in text
    missing = _output(1, PROMPTS, "Error: No such user\n")
    assert accounts.judge_passwd("bob")(missing) == (
        False,
        "there is no bob@meet.jitsi; add it: fab user-add bob",
    )
    assert accounts.judge_remove("bob")(_output(1, "", "Error: No such user\n"))[0]


def test_prosody_0_12s_answers_are_read_too() -> None:
    """What Debian 12's prosodyctl 0.12 printed here: the same commands, other words."""
    exists = accounts.judge_add("alice")(_output(1, "That user already exists\n"))
    assert not exists[0] and "exists already" in exists[1]
    gone = "That user does not exist, use prosodyctl adduser to create a new user\n"
    assert accounts.judge_passwd("bob")(_output(1, gone))[1].startswith("there is no bob@")
    assert accounts.judge_remove("bob")(_output(1, "That user does not exist on this server\n"))[0]


def test_a_stopped_stack_is_said_plainly() -> None:
    gone = _output(1, "", "Error response from daemon: No such container: jitsi-prosody\n")
    assert accounts.judge_list(gone) == (
        False,
        "the jitsi-prosody container is not running: deploy (fab deploy)",
    )
    down = _output(1, "** Unable to connect to server - is it running?\n")
    assert "Prosody is not running" in accounts.judge_remove("a")(down)[1]


def test_the_list_is_the_names() -> None:
    listed = _output(0, "bob@meet.jitsi\nalice@meet.jitsi\nOK: Showing all 2 users\n")
    assert accounts.judge_list(listed) == (True, "alice\nbob")
    assert accounts.judge_list(_output(0, "OK: Showing all 0 users\n")) == (
        True,
        "no accounts on meet.jitsi",
    )


def test_the_tasks_refuse_without_authentication_before_asking(tmp_path: Path) -> None:
    site_with(tmp_path, ENABLE_AUTH="0")
    done = fab(tmp_path, "user-add", "alice", stdin=f"{PASSWORD}\n")
    assert done.returncode == 1
    assert "nothing was touched" in done.stderr and "ENABLE_AUTH: is 0" in done.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user-add", "bob smith"), f"{PASSWORD}\n", "is not an account name"),
        (("user-passwd", "bob", "--password-stdin"), "bob12345\n", "the password is too short"),
        (("user-remove", "@bob"), "", "is not an account name"),
    ],
)
def test_the_tasks_refuse_bad_input_before_any_host(tmp_path: Path, args, stdin, message) -> None:
    site_with(tmp_path, ENABLE_AUTH="1")
    done = fab(tmp_path, *args, stdin=stdin)
    assert done.returncode == 1
    assert "nothing was touched" in done.stderr and message in done.stderr
