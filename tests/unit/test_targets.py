"""Hosts named with `fab -H`: looked up in the inventory, else deployed as a core host."""

from __future__ import annotations

from pathlib import Path

from jitsi_deploy.deploy.targets import select_hosts, with_unlisted
from jitsi_deploy.render.host import render_host
from tests.unit.sites import rendered, two_hosts


def test_a_dash_h_host_the_inventory_lacks_is_deployed_with_the_cores_settings(
    tmp_path: Path,
) -> None:
    """`fab deploy -H 198.51.100.7`: a core host of the site, rendered without a KeyError."""
    deployment = two_hosts(tmp_path)
    (target,) = select_hosts(deployment, "root@198.51.100.7")
    with_it = with_unlisted(deployment, [target])
    assert with_it.sites[target.name] == deployment.sites[deployment.hosts[0].name]
    core_services = rendered(deployment, "meet.example.org").service_names
    assert render_host(with_it, target).service_names == core_services
