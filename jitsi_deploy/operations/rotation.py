"""`fab rotate-secrets`: new XMPP passwords for jicofo and the video bridges, applied together,
and a new TURN secret where the core runs TURN.

The prosody image creates the focus and jvb accounts once and keeps their passwords, so a new
password in `.secrets.env` alone would lock jicofo and every bridge out at their next start.
The rotation therefore sets the new passwords on the accounts in the core's Prosody first
(prosodyctl reads them from stdin), then deploys every host of the inventory with them: jicofo
and the bridges are recreated and log in again. Conferences reconnect; nothing else is lost.
The TURN secret needs no account: the deploy hands it to coturn, Prosody and the health check
alike. The file's previous content is kept beside it, mode 0600, as `.secrets.env.<UTC time>`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..deploy.runner import Outcome, parse_outcomes, step_script
from ..model.services import JICOFO_PASSWORD, JVB_PASSWORD, SERVICE_ACCOUNTS
from ..model.turn import TURN_SECRET
from ..remote.transport import Remote
from ..settings.envfile import parse_env, replace_file
from ..settings.secrets import Secret, write_secrets
from ..settings.site import Site
from ..steps.changes import Change
from .accounts import password_command

NAME = "rotate"


@dataclass(frozen=True)
class Rotation:
    """The new values, and where the file's previous content was kept."""

    values: dict[str, str]
    backup: Path

    @property
    def accounts(self) -> dict[str, str]:
        """The new passwords of Prosody's service accounts, which Prosody must learn first."""
        return {name: value for name, value in self.values.items() if name in SERVICE_ACCOUNTS}


def rotated_secrets(site: Site) -> tuple[Secret, ...]:
    """What a rotation renews: the TURN secret only where TURN runs (elsewhere it would only
    restart Prosody, to which the secret is always passed)."""
    return (JICOFO_PASSWORD, JVB_PASSWORD, *((TURN_SECRET,) if site.turn.enabled else ()))


def rotate_file(path: Path, secrets: tuple[Secret, ...], now: float | None = None) -> Rotation:
    """Keep ``path`` as it is beside it, then give ``secrets`` new values in it. The file was
    read strictly when the settings were loaded, so it parses here."""
    parsed, _ = parse_env(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    backup = path.with_name(f"{path.name}.{stamp}")
    replace_file(backup, path.read_text(encoding="utf-8"), 0o600)
    values = {secret.name: secret.make() for secret in secrets}
    write_secrets(path, {**parsed.values, **values})
    return Rotation(values, backup)


def restore_file(path: Path, rotation: Rotation) -> None:
    replace_file(path, rotation.backup.read_text(encoding="utf-8"), 0o600)


def account_changes(values: dict[str, str]) -> list[Change]:
    """One change per service account whose password is rotated."""
    return [
        Change(NAME, f"new password for {SERVICE_ACCOUNTS[name]}", (command,))
        for name, value in values.items()
        for command in (password_command(SERVICE_ACCOUNTS[name], value),)
    ]


def set_accounts(remote: Remote, values: dict[str, str]) -> list[Outcome]:
    """Set the new passwords in the core's Prosody, in one round trip; stops at a failure."""
    changes = account_changes(values)
    result = remote.run_script(step_script(changes), timeout=120)
    return parse_outcomes(changes, result.stdout + result.stderr, result.exit_code)
