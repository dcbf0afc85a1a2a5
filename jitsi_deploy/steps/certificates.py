"""TLS certificates of a core host: a placeholder first, so nginx always starts, then the
certificate the settings ask for (Let's Encrypt or another ACME CA, your own, self-signed)."""

from __future__ import annotations

from ..changes import Change
from ..commands import Command
from ..errors import DeployError
from ..facts import HostFacts
from ..render import Rendered, proxy_settings
from ..tls import (
    CertbotPaths,
    certificate_plan,
    explain_certbot_failure,
    placeholder_plan,
    probe_command,
    read_custom_pair,
)
from .handlers import HOST_NGINX

STEP = "tls"


def tls_probe(rendered: Rendered) -> str:
    """The shell line that reports the host's certificates (nothing for a bridge host)."""
    if rendered.host.role != "core":
        return "true"
    return probe_command(proxy_settings(rendered.site), CertbotPaths()).shell()


def placeholder_changes(rendered: Rendered, facts: HostFacts) -> list[Change]:
    if rendered.host.role != "core":
        return []
    return _changes(placeholder_plan(proxy_settings(rendered.site), facts.tls))


def certificate_changes(rendered: Rendered, facts: HostFacts) -> list[Change]:
    if rendered.host.role != "core":
        return []
    settings = rendered.site.tls
    try:
        custom = read_custom_pair(settings) if settings.mode == "custom" else None
    except (OSError, ValueError) as error:
        raise DeployError(f"TLS_CERT_FILE/TLS_KEY_FILE: {error}") from None
    plan = certificate_plan(
        settings, proxy_settings(rendered.site), facts.tls, HOST_NGINX, custom=custom
    )
    return _changes(plan)


def _changes(commands: list[Command]) -> list[Change]:
    return [
        Change(
            STEP,
            command.description,
            (command,),
            explain=explain_certbot_failure if command.argv[0] == "certbot" else None,
        )
        for command in commands
    ]
