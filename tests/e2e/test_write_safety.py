"""Root's writes into a folder the Jitsi containers' user owns, on a deployed Debian 12 host.

The Prosody plugin folder belongs to uid 1000 (the containers' user), so whoever runs as that
user on the host can plant links there. Before this was closed, the next deploy wrote through
them as root (e.g. into /usr/local/sbin/jitsi-health, which root's cron runs).
"""

from __future__ import annotations

import subprocess

import pytest

from jitsi_deploy.model import paths
from tests.e2e.site import Site
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

PLUGIN = f"{paths.PROSODY_PLUGINS_DIR}/mod_room_policy.lua"
# Secret (0600) and the containers' user's: the room passwords.
POLICY = f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua"
# Lists, as fast as the host can, every staged file under the folders the deploy writes, and
# the secret settings, whenever others could read them.
WATCH = f"""
while [ ! -e /tmp/stop-watch ]; do
  find {paths.STACK_DIR} {paths.ETC_DIR} -xdev -type f -perm /044 \\
    \\( -name '.jitsi-deploy-new*' -o -name '*.jitsi-deploy-new' -o -path {POLICY} \\) -print
done 2>/dev/null >/tmp/readable
"""


def as_container_user(host: TestHost, script: str) -> None:
    """Run ``script`` as uid 1000 on the host, as a compromised container user could."""
    setpriv = ("setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups")
    host_exec(host, *setpriv, "sh", "-ec", script, check=True)


def digest(host: TestHost, path: str) -> str:
    return host_exec(host, "sha256sum", path, check=True).stdout.split()[0]


def test_links_planted_beside_a_changed_file_are_not_written_through(site: Site) -> None:
    core = site.hosts[0]
    health_script = digest(core, paths.HEALTH_SCRIPT)
    wanted = digest(core, PLUGIN)
    as_container_user(
        core,
        f"echo '-- tampered' >> {PLUGIN}; "
        f"ln -s {paths.HEALTH_SCRIPT} {PLUGIN}.jitsi-deploy-new; "
        f"ln -s {paths.HEALTH_SCRIPT} {PLUGIN}.jitsi-deploy-prev",
    )
    result = site.fab("deploy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert digest(core, paths.HEALTH_SCRIPT) == health_script
    assert digest(core, PLUGIN) == wanted
    owner = host_exec(core, "stat", "-c", "%u %a", PLUGIN, check=True).stdout.split()
    assert owner == ["1000", "644"]
    host_exec(core, "sh", "-c", f"rm -f {PLUGIN}.jitsi-deploy-new {PLUGIN}.jitsi-deploy-prev")


def test_a_secret_file_is_never_readable_by_others_while_it_is_written(site: Site) -> None:
    """Only the 0600 room-policy settings change in this deploy, so every staged file the
    watcher could see is theirs."""
    core = site.hosts[0]
    as_container_user(core, f"echo '-- tampered' >> {POLICY}")
    host_exec(core, "rm", "-f", "/tmp/stop-watch", "/tmp/readable", check=True)
    watcher = subprocess.Popen(["docker", "exec", core.name, "sh", "-c", WATCH])
    try:
        result = site.fab("deploy")
    finally:
        host_exec(core, "touch", "/tmp/stop-watch", check=True)
        watcher.wait(timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"update {POLICY}" in result.stdout, result.stdout
    assert host_exec(core, "cat", "/tmp/readable").stdout == "", "readable by others while new"


def test_a_managed_file_replaced_by_a_link_stops_the_deploy_with_the_reason(site: Site) -> None:
    core = site.hosts[0]
    health_script = digest(core, paths.HEALTH_SCRIPT)
    as_container_user(core, f"mv {PLUGIN} {PLUGIN}.moved; ln -s {paths.HEALTH_SCRIPT} {PLUGIN}")
    refused = site.fab("deploy")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert f"{PLUGIN} on the host is a symbolic link to {paths.HEALTH_SCRIPT}" in output
    assert digest(core, paths.HEALTH_SCRIPT) == health_script
    host_exec(core, "sh", "-c", f"rm {PLUGIN}; mv {PLUGIN}.moved {PLUGIN}", check=True)
    settled = site.fab("deploy")
    assert settled.returncode == 0, settled.stdout + settled.stderr
