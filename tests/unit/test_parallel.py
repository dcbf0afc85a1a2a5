"""`fab deploy --parallel N` (deploy/fleet.py run_all): never more than N hosts at a time, the
results in the hosts' order."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from jitsi_deploy.deploy.fleet import run_all
from jitsi_deploy.settings.inventory import Host

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")


@pytest.mark.parametrize("parallel", [1, 3])
def test_parallel_bounds_how_many_hosts_are_worked_on_at_once(parallel: int) -> None:
    busy, most = 0, 0
    lock = threading.Lock()

    def work(host: Host) -> str:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
        time.sleep(0.05)
        with lock:
            busy -= 1
        return host.name

    hosts = [replace(HOST, name=f"h{n}") for n in range(6)]
    assert run_all(hosts, work, parallel) == [h.name for h in hosts]
    assert most == parallel
