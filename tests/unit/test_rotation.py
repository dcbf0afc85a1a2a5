"""`fab rotate-secrets` without a server: the file rotated with its previous content kept, and
the commands that give the accounts their new passwords."""

from __future__ import annotations

import stat
from pathlib import Path

from jitsi_deploy.model.services import JICOFO_PASSWORD, JVB_PASSWORD, SERVICE_ACCOUNTS
from jitsi_deploy.operations.rotation import account_changes, restore_file, rotate_file
from jitsi_deploy.settings.envfile import parse_env
from tests.unit.sites import two_hosts


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
