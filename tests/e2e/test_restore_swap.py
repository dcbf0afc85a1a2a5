"""fab restore's host script (operations/backup.py restore_script) in a real Debian: the
restored folders are swapped in whole, and a swap that fails half-way puts back every folder it
had moved aside, so the host keeps its data. Run in a throwaway rig container, as root."""

from __future__ import annotations

import subprocess

import pytest

from jitsi_deploy.operations.backup import restore_script
from tests.rig.images import ensure_image

pytestmark = pytest.mark.slow

ROOTS = ("opt/a", "etc/b")
# The host's data before the restore, and an archive of the restored folders (only opt/a
# when `partial`, so the swap of etc/b fails after opt/a was swapped in).
SETUP = """
set -eu
mkdir -p /opt/a /etc/b /tmp/new/opt/a /tmp/new/etc/b
echo old-a > /opt/a/data; echo old-b > /etc/b/data
echo new-a > /tmp/new/opt/a/data; echo new-b > /tmp/new/etc/b/data
tar -czf /tmp/archive.tgz -C /tmp/new $MEMBERS
"""


def restore_in_a_container(members: str) -> tuple[int, str]:
    """Run the restore script on the archive; its exit code, and the two data files after."""
    script = restore_script(ROOTS).replace("'", "'\\''")
    run = (
        f"MEMBERS='{members}'; {SETUP}\n"
        f"set +e; sh -c '{script}' < /tmp/archive.tgz; echo \"exit=$?\"\n"
        "for f in /opt/a/data /etc/b/data; do cat $f 2>/dev/null || echo missing; done"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "-i", "--entrypoint", "sh", ensure_image("bookworm"), "-s"],
        input=run, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    code = next(int(line[5:]) for line in lines if line.startswith("exit="))
    return code, " ".join(lines[-2:])


def test_a_whole_archive_is_swapped_in() -> None:
    assert restore_in_a_container("opt/a etc/b") == (0, "new-a new-b")


def test_a_swap_that_fails_half_way_puts_the_hosts_data_back() -> None:
    code, data = restore_in_a_container("opt/a")
    assert code != 0
    assert data == "old-a old-b", "opt/a was swapped in, then etc/b failed: both put back"
