"""TLS certificates of a core host, in two steps: a placeholder before the files, so nginx
always starts, and after the reactions the certificate the settings ask for (Let's Encrypt or
another ACME CA, your own, self-signed)."""

from __future__ import annotations

from ..errors import DeployError
from ..model.proxy import proxy_settings
from ..remote.commands import Command
from ..render.host import Rendered
from .certbot_errors import explain_certbot_failure
from .certificates import (
    CertbotPaths,
    certificate_plan,
    parse_probe,
    placeholder_plan,
    probe_command,
    read_custom_pair,
)
from .changes import Change
from .facts import Fact
from .handlers import HOST_NGINX
from .step import PlanInput, Step

NAME = "tls"


def tls_probe(rendered: Rendered) -> str:
    """The shell line that reports the host's certificates (nothing for a bridge host)."""
    if rendered.host.role != "core":
        return "true"
    return probe_command(proxy_settings(rendered.site), CertbotPaths()).shell()


CERTIFICATES = Fact("tls", tls_probe, lambda output: parse_probe("\n".join(output)))


def placeholder_changes(given: PlanInput) -> list[Change]:
    if given.rendered.host.role != "core":
        return []
    return _changes(
        placeholder_plan(proxy_settings(given.rendered.site), given.facts[CERTIFICATES])
    )


def certificate_changes(given: PlanInput) -> list[Change]:
    rendered = given.rendered
    if rendered.host.role != "core":
        return []
    settings = rendered.site.tls
    try:
        custom = read_custom_pair(settings) if settings.mode == "custom" else None
    except (OSError, ValueError) as error:
        raise DeployError(f"TLS_CERT_FILE/TLS_KEY_FILE: {error}") from None
    proxy = proxy_settings(rendered.site)
    plan = certificate_plan(settings, proxy, given.facts[CERTIFICATES], HOST_NGINX, custom=custom)
    return _changes(plan)


def _changes(commands: list[Command]) -> list[Change]:
    return [
        Change(
            NAME,
            command.description,
            (command,),
            explain=explain_certbot_failure if command.argv[0] == "certbot" else None,
        )
        for command in commands
    ]


PLACEHOLDERS = Step("tls", (CERTIFICATES,), placeholder_changes)
OBTAIN = Step("tls", (CERTIFICATES,), certificate_changes)
