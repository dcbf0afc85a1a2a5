"""The scripts fab backup and fab restore run on a host pass shellcheck as POSIX sh, and the
restore script swaps nothing in unless the whole stream unpacked; a fresh server takes the
settings of the host it replaces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.operations.backup import (
    ROOTS,
    SIZES_SCRIPT,
    backup_script,
    in_place_of,
    restore_script,
)
from jitsi_deploy.render.host import render_host
from jitsi_deploy.settings.inventory import Host
from tests.unit.sites import two_hosts

SCRIPTS = {
    "sizes": SIZES_SCRIPT,
    "backup": backup_script(list(ROOTS)),
    "restore": restore_script(("opt/jitsi-meet", "etc/jitsi-deploy/tls")),
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_host_scripts_pass_shellcheck(name: str) -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (Debian: apt install shellcheck)")
    done = subprocess.run(
        ["shellcheck", "--shell=sh", "-"], input=SCRIPTS[name], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_the_swap_comes_after_the_unpacking_under_set_e() -> None:
    script = SCRIPTS["restore"]
    assert script.startswith("set -eu;")
    assert script.index("tar ") < script.index("compose stop") < script.index('mv "$stage/$r"')


def test_a_fresh_server_restored_in_place_of_a_host_renders_with_that_hosts_settings(
    tmp_path: Path,
) -> None:
    deployment = two_hosts(tmp_path)
    fresh = Host("203.0.113.99", "core", "203.0.113.99", "203.0.113.99")
    standing_in = in_place_of(deployment, fresh, "meet.example.org")
    assert standing_in.sites[fresh.name] == deployment.sites["meet.example.org"]
    assert standing_in.hosts == deployment.hosts  # the inventory's hosts stay as they are
    assert render_host(standing_in, fresh).files
    assert in_place_of(deployment, deployment.hosts[0], "x") is deployment
