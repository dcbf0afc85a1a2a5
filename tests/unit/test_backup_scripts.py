"""The scripts fab backup and fab restore run on a host pass shellcheck as POSIX sh, and the
restore script swaps nothing in unless the whole stream unpacked."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from jitsi_deploy.operations.backup import ROOTS, SIZES_SCRIPT, backup_script, restore_script

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
