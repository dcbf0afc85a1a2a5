"""`fab update --os`: the script passes shellcheck, and its output reads as the operator's
lines (the e2e test runs it on a Debian 13 test host through sudo)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from jitsi_deploy.operations import os_updates
from jitsi_deploy.settings.inventory import Host

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
# The sections after a run that upgraded two packages and installed a kernel.
OUTPUT = """\
@@changed
libssl3 3.0.17-1~deb12u2
openssl 3.0.17-1~deb12u2
@@reboot
the system asks for it: linux-image-6.1.0-41-amd64
"""


def test_the_script_passes_shellcheck() -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (Debian: apt install shellcheck)")
    done = subprocess.run(
        ["shellcheck", "--shell=sh", "-"], input=os_updates.SCRIPT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_what_changed_and_the_reboot_read_as_one_line() -> None:
    result = os_updates.parse(HOST, OUTPUT)
    assert result.changed == ("libssl3 3.0.17-1~deb12u2", "openssl 3.0.17-1~deb12u2")
    assert result.summary() == (
        "meet.example.org: 2 packages updated; a reboot is due (the system asks for it: "
        "linux-image-6.1.0-41-amd64): reboot when no meeting runs; the stack starts by itself."
    )
    quiet = os_updates.parse(HOST, "@@changed\n@@reboot\n")
    assert quiet.summary() == "meet.example.org: no security updates; no reboot due."
    failed = os_updates.OsUpdate(HOST, error="E: Unable to locate package unattended-upgrades")
    assert failed.summary() == (
        "meet.example.org: the security updates failed: "
        "E: Unable to locate package unattended-upgrades"
    )
