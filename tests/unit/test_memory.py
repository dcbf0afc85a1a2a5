"""A host with less memory than the containers' limits add up to deploys, with a warning that
says what it means and what to do."""

from __future__ import annotations

from pathlib import Path

from jitsi_deploy.deploy import memory
from jitsi_deploy.deploy.recap import warning_text
from tests.unit.sites import rendered, two_hosts

# /proc/meminfo's first line on a 4 GiB server.
MEMINFO = ["MemTotal:        4012348 kB"]


def test_meminfo_reads_in_mib() -> None:
    assert memory.parse_total(MEMINFO) == 3918
    assert memory.parse_total([]) == 0


def test_limits_over_the_hosts_memory_warn_and_name_the_largest(tmp_path: Path) -> None:
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    assert sum(memory.limits_mib(core).values()) == 5632  # the example's 5.5 GiB
    low = memory.warning(core, memory.parse_total(MEMINFO))
    assert low is not None and low.status == "warning"
    assert warning_text(low) == (
        "the containers' memory limits add up to 5.5 GiB but this host has 3.8 GiB: under load "
        "the kernel ends a container before its limit (likely jvb, the largest). Lower the "
        "*_MEMORY_LIMIT settings or use a larger server."
    )
    assert memory.warning(core, 8192) is None
    assert memory.warning(core, 0) is None  # unread: no claim either way


def test_a_bridge_counts_only_its_own_container(tmp_path: Path) -> None:
    bridge = rendered(two_hosts(tmp_path), "jvb1.example.org")
    assert memory.limits_mib(bridge) == {"jvb": 3072}
    assert memory.warning(bridge, 3918) is None
