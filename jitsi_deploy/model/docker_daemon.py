"""The keys this project owns in /etc/docker/daemon.json; the deploy merges them in."""

from __future__ import annotations

from typing import Any

from ..settings.site import POOL_SUBNET_PREFIX, Site


def docker_daemon_settings(site: Site) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }
    if site.images.registry_mirror:
        settings["registry-mirrors"] = [site.images.registry_mirror]
    if site.tuning.docker_storage_driver:
        settings["storage-driver"] = site.tuning.docker_storage_driver
    if site.tuning.docker_address_pool:
        settings["default-address-pools"] = [
            {"base": site.tuning.docker_address_pool, "size": POOL_SUBNET_PREFIX}
        ]
    return settings
