"""The compose file and its env file, built from the service descriptions.

The compose file is written by a small emitter rather than a template: every string goes out
JSON-quoted (a valid YAML scalar that cannot hold a raw newline or start a new key), and every
`$` is doubled so Compose never interpolates a value. Only ``EnvRef`` values, the secrets,
become `${NAME}` references into the env file, so no secret is in the compose file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..model import paths
from ..model.services import Placement, Service, container_name, heap_mib
from ..settings.secrets import Secret

# Compose file format 2.4: read by Compose v1 (docker-compose) and v2 (docker compose) alike,
# and the last format with per-service memory limits outside swarm mode.
COMPOSE_VERSION = "2.4"
# What the Jitsi images' s6-overlay init needs: it runs from /run, so /run must allow exec.
JITSI_TMPFS = ("/run:size=16M,mode=1750,exec", "/tmp:size=16M,mode=1777,noexec")
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class EnvRef:
    """A value Compose takes from the env file beside the compose file."""

    name: str


def compose_file(placement: Placement, services: list[Service]) -> str:
    header = (
        f"# Written by jitsi-deploy for {placement.host.name} ({placement.host.role}); "
        "changes here are overwritten.\n"
    )
    document = {
        "version": COMPOSE_VERSION,
        "services": {s.name: service_entry(s, placement, services) for s in services},
        "networks": {name: {} for name in dict.fromkeys(s.network for s in services)},
    }
    return header + to_yaml(document)


def env_file(placement: Placement, services: list[Service]) -> str:
    """The env file Compose reads: the project name and the secrets."""
    lines = [
        f"# Written by jitsi-deploy for {placement.host.name}: secrets of the stack. Keep at 0600.",
        f"COMPOSE_PROJECT_NAME={paths.COMPOSE_PROJECT}",
    ]
    lines += [f"{s.name}={placement.site.secrets[s.name]}" for s in env_secrets(services)]
    return "\n".join(lines) + "\n"


def env_secrets(services: list[Service]) -> list[Secret]:
    found = {secret.name: secret for service in services for secret in service.secrets}
    return list(found.values())


def service_entry(service: Service, placement: Placement, running: list[Service]) -> dict:
    site = placement.site
    entry: dict[str, Any] = {
        "image": service.running_image(site),
        "container_name": container_name(service.name),
        "restart": "unless-stopped",
    }
    if service.jitsi_contract:
        entry |= {"read_only": True, "tmpfs": list(JITSI_TMPFS)}
    if service.unprivileged:
        entry |= {
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
        }
    entry |= {"mem_limit": site.tuning.memory[service.name], "logging": LOGGING}
    if ports := service.ports(placement):
        entry["ports"] = ports
    if volumes := service.volumes(placement):
        entry["volumes"] = volumes
    entry["environment"] = environment(service, placement)
    if command := service.command(placement):
        entry["command"] = command
    if service.container_health:
        entry["healthcheck"] = _healthcheck(service, site.monitoring.container_health_interval)
    if depends := depends_on(service, running):
        entry["depends_on"] = depends
    aliases = {"aliases": list(service.network_aliases)} if service.network_aliases else {}
    entry["networks"] = {service.network: aliases}
    return entry


def depends_on(service: Service, running: list[Service]) -> list[str] | dict[str, dict]:
    """The services ``service`` starts after, of those that run: a plain list, or, when one
    is awaited, each with the state it must reach first."""
    found = [s for s in running if s.name in service.depends_on]
    if not any(s.awaited for s in found):
        return [s.name for s in found]
    return {
        s.name: {"condition": "service_healthy" if s.awaited else "service_started"} for s in found
    }


def environment(service: Service, placement: Placement) -> dict[str, str | EnvRef]:
    values: dict[str, str | EnvRef] = dict(service.environment(placement))
    if service.heap_variable:
        limit = placement.site.tuning.memory[service.name]
        values[service.heap_variable] = f"{heap_mib(limit)}m"
    values |= {secret.name: EnvRef(secret.name) for secret in service.secrets}
    values["TZ"] = placement.site.timezone
    return values


# Compose starts an awaited service's dependants at its first passing check, which comes one
# interval after it starts: a short one keeps `up` from idling.
AWAITED_INTERVAL = 3


def _healthcheck(service: Service, interval: int) -> dict[str, Any]:
    # JVMs take longer to come up than the others.
    start = "60s" if service.heap_variable else "30s"
    if service.awaited:
        interval = min(interval, AWAITED_INTERVAL)
    return {
        "test": list(service.container_health),
        "interval": f"{interval}s",
        "timeout": "5s",
        "retries": 3,
        "start_period": start,
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars; see the module docstring for quoting."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}\n"
        return "".join(_yaml_item(f"{pad}{_key(k)}:", v, indent) for k, v in value.items())
    if isinstance(value, list):
        if not value:
            return "[]\n"
        return "".join(_yaml_item(f"{pad}-", v, indent) for v in value)
    return _scalar(value) + "\n"


def _yaml_item(prefix: str, value: Any, indent: int) -> str:
    if isinstance(value, dict | list) and value:
        return f"{prefix}\n{to_yaml(value, indent + 1)}"
    return f"{prefix} {to_yaml(value, indent + 1)}"


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, EnvRef):
        return json.dumps(f"${{{value.name}}}")
    return json.dumps(str(value).replace("$", "$$"))
