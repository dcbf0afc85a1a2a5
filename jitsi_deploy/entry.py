"""What tasks.py and fabfile/ share: finding the settings files and stopping on bad ones."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Exit

from .errors import ConfigError
from .model.deployment import load_deployment
from .settings.site import Deployment

SECRETS_NAME = ".secrets.env"


def settings_paths(env: str | None, hosts: str | None, examples: bool = False) -> tuple[Path, Path]:
    """The given files, else `.env`/`hosts`; with ``examples`` (rendering only, never to reach
    servers) the committed examples stand in for missing ones, as said on stderr."""
    env_path = Path(env) if env else _own_file(".env", ".env.example", examples)
    hosts_path = Path(hosts) if hosts else _own_file("hosts", "hosts.example", examples)
    return env_path, hosts_path


def _own_file(own: str, example: str, examples: bool) -> Path:
    if Path(own).exists() or not examples:
        return Path(own)
    print(f"note: no {own} here, using {example} (copy it to {own} and edit it)", file=sys.stderr)
    return Path(example)


def load_or_exit(env_path: Path, hosts_path: Path, save: bool = True) -> Deployment:
    """Load the deployment, or stop with every problem listed and a non-zero exit; ``save``
    as in `load_deployment`."""
    try:
        # Secrets live beside the settings they belong to, readable by their owner only.
        return load_deployment(env_path, hosts_path, env_path.parent / SECRETS_NAME, save)
    except ConfigError as error:
        lines = "\n".join(f"  {problem}" for problem in error.problems)
        message = f"The configuration has problems; nothing was rendered or touched:\n{lines}"
        raise Exit(message) from None
