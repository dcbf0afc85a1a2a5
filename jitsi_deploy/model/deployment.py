"""Loading a deployment: the settings, with what the stack's services add to them."""

from __future__ import annotations

from pathlib import Path

from ..settings.site import Deployment, Spec, load
from .services import all_secrets, memory_keys

SPEC = Spec(memory_keys(), all_secrets())


def load_deployment(
    env_path: Path, hosts_path: Path, secrets_path: Path, save: bool = True
) -> Deployment:
    """Read and validate `.env`, the inventory and the secrets (made where missing; saved
    unless ``save`` is False, see `Deployment.save_secrets`)."""
    return load(env_path, hosts_path, secrets_path, SPEC, save)
