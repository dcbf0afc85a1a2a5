"""`fab rotate-secrets` without a server: the file rotated with its previous content kept, and
the commands that give the accounts their new passwords."""

from __future__ import annotations

import stat
from pathlib import Path

from jitsi_deploy.model.services import JICOFO_PASSWORD, JVB_PASSWORD, SERVICE_ACCOUNTS
from jitsi_deploy.model.turn import TURN_SECRET
from jitsi_deploy.operations.rotation import (
    account_changes,
    restore_file,
    rotate_file,
    rotated_secrets,
)
from jitsi_deploy.settings.envfile import parse_env
from tests.unit.sites import site_with, two_hosts


def stored(path: Path) -> dict[str, str]:
    parsed, problems = parse_env(path)
    assert not problems
    return parsed.values


def test_the_xmpp_passwords_change_and_the_previous_file_is_kept_private(tmp_path: Path) -> None:
    two_hosts(tmp_path)  # makes .secrets.env as a first deploy would
    secrets = tmp_path / ".secrets.env"
    before = stored(secrets)
    rotation = rotate_file(secrets, (JICOFO_PASSWORD, JVB_PASSWORD), now=0)
    after = stored(secrets)
    assert rotation.backup.name == ".secrets.env.19700101T000000Z"
    assert stored(rotation.backup) == before
    assert stat.S_IMODE(rotation.backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    rotated = {JICOFO_PASSWORD.name, JVB_PASSWORD.name}
    assert all(after[name] != before[name] for name in rotated)
    assert {k: v for k, v in after.items() if k not in rotated} == {
        k: v for k, v in before.items() if k not in rotated
    }
    two_hosts(tmp_path)  # the rotated file is still one the settings accept
    restore_file(secrets, rotation)
    assert stored(secrets) == before


def test_each_account_gets_its_password_on_stdin_never_in_argv() -> None:
    values = {JICOFO_PASSWORD.name: "a" * 32, JVB_PASSWORD.name: "b" * 32}
    changes = account_changes(values)
    assert [c.summary for c in changes] == [
        "new password for focus@auth.meet.jitsi",
        "new password for jvb@auth.meet.jitsi",
    ]
    for change, (name, value) in zip(changes, values.items(), strict=True):
        (command,) = change.commands
        assert SERVICE_ACCOUNTS[name] in command.argv and value not in " ".join(command.argv)
        assert command.stdin == f"{value}\n{value}\n".encode()


def test_the_turn_secret_is_renewed_only_where_turn_runs(tmp_path: Path) -> None:
    without = two_hosts(tmp_path).sites["meet.example.org"]
    with_turn = site_with(tmp_path, TURN_HOSTNAME="turn.example.org")
    assert rotated_secrets(without) == (JICOFO_PASSWORD, JVB_PASSWORD)
    assert rotated_secrets(with_turn.sites["meet.example.org"]) == (
        JICOFO_PASSWORD,
        JVB_PASSWORD,
        TURN_SECRET,
    )


def test_only_the_accounts_passwords_go_to_prosody(tmp_path: Path) -> None:
    """The TURN secret has no account: setting one for it would fail the whole rotation."""
    site_with(tmp_path, TURN_HOSTNAME="turn.example.org")
    secrets = tmp_path / ".secrets.env"
    rotation = rotate_file(secrets, (JICOFO_PASSWORD, JVB_PASSWORD, TURN_SECRET))
    assert set(rotation.values) == {JICOFO_PASSWORD.name, JVB_PASSWORD.name, TURN_SECRET.name}
    assert set(rotation.accounts) == {JICOFO_PASSWORD.name, JVB_PASSWORD.name}
    assert len(account_changes(rotation.accounts)) == 2
