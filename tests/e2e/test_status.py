"""`fab status` over real SSH on the deployed test site (tests/e2e/conftest.py): the Debian 12
core as root, the Debian 13 bridge as a sudo user, and a third inventory host that does not
answer. The stack runs the stand-in images (see tests/e2e/site.py)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.e2e.site import Site
from tests.rig.hosts import host_exec

pytestmark = pytest.mark.slow

CORE_SERVICES = ["web", "prosody", "jicofo", "jvb", "uptime-kuma"]


def _status(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return site.fab("status", *args, timeout=180)


def _settled(site: Site) -> subprocess.CompletedProcess[str]:
    """`fab status` once the stack has settled (jicofo sees both bridges, no health check is
    still starting); the last run."""
    deadline = time.monotonic() + 240
    while True:
        result = _status(site)
        starting = re.search(r"^  \S+ +running +starting ", result.stdout, re.M)
        # A bridge jicofo lacks makes the exit non-zero: 0 means it sees both.
        if result.returncode == 0 and not starting:
            return result
        if time.monotonic() > deadline:
            return result
        time.sleep(10)


def _blocks(table: str) -> dict[str, list[str]]:
    """The table's lines under each host's title line (`name (role)` at the line start)."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in table.splitlines()[1:]:
        title = re.match(r"(\S+) \((core|jvb)\)", line)
        if title:
            current = blocks.setdefault(title.group(1), [line])
        elif line.startswith("  ") and current:
            current.append(line)
    return blocks


def test_a_healthy_site_is_one_table_and_exit_zero(site: Site) -> None:
    result = _settled(site)
    print(result.stdout)  # the README's sample (pytest -rP shows it)
    assert result.returncode == 0, result.stdout + result.stderr
    core, bridge = site.hosts
    blocks = _blocks(result.stdout)
    assert set(blocks) == {core.name, bridge.name}, result.stdout
    for service in CORE_SERVICES:
        assert re.search(rf"^  {service} +running ", result.stdout, re.M), result.stdout
    assert [line.split()[0] for line in blocks[bridge.name][1:2]] == ["jvb"]
    core_text = "\n".join(blocks[core.name])
    assert re.search(r"cert: +meet\.example\.org \d+ days left", core_text), core_text
    # Conferences: the rooms earlier tests on this shared site opened may still be counted.
    bridges = ", ".join(sorted((core.name, bridge.name)))
    assert re.search(rf"jicofo: +bridges {bridges}; \d+ conferences, \d+ participants", core_text)
    for text in (core_text, "\n".join(blocks[bridge.name])):
        assert re.search(r"disk: +/ [\d.]+ GiB free of", text), text
        assert re.search(r"memory: +[\d.]+ GiB available of", text), text
    assert result.stdout.rstrip().endswith("all 2 hosts OK.")


def test_an_unreachable_host_is_one_error_row_and_json_matches_the_table(site: Site) -> None:
    core, bridge = site.hosts
    # A third host that refuses SSH: the core's address on a port nothing listens on.
    # Table and JSON are two runs: both on a settled stack, so that they read the same.
    _settled(site)
    site.write(extra_lines=f"ghost address={core.address} port=1 key={core.key_path}\n")
    try:
        table = _status(site)
        as_json = _status(site, "--json")
    finally:
        site.write()
    assert table.returncode == 1 and as_json.returncode == 1, table.stdout + table.stderr
    blocks = _blocks(table.stdout)
    assert list(blocks) == [core.name, bridge.name, "ghost"], table.stdout
    assert len(blocks["ghost"]) == 1
    assert re.match(r"ghost \(jvb\) +UNREACHABLE +ghost: cannot connect to", blocks["ghost"][0])
    # The ghost is a bridge of the inventory that never joined: the core's jicofo lacks it.
    missing = "jicofo lacks ghost of the inventory's bridges"
    assert f"  PROBLEM:  {missing}" in blocks[core.name]
    assert f"2 of 3 hosts need attention: {core.name}, ghost." in table.stdout

    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["ghost"]["reachable"] is False and "cannot connect" in hosts["ghost"]["error"]
    assert hosts[bridge.name]["ok"] is True and hosts[core.name]["problems"] == [missing]
    for name in (core.name, bridge.name):
        cells_of = (line.split() for line in blocks[name][1:])
        rows = {cells[0]: cells for cells in cells_of if not cells[0].endswith(":")}
        for service in hosts[name]["services"]:
            cells = rows[service["name"]]
            assert cells[1:3] == [service["state"], service["health"] or "-"], cells
            assert cells[4] == service["digest"] and cells[-1] == str(service["restarts"])
    assert [s["name"] for s in hosts[core.name]["services"]] == CORE_SERVICES
    assert hosts[core.name]["jicofo"]["bridges"] == sorted((core.name, bridge.name))


def test_a_stopped_service_is_named_and_fails_the_run(site: Site) -> None:
    core = site.hosts[0]
    host_exec(core, "docker", "stop", "-t", "1", "jitsi-web", check=True)
    try:
        result = _status(site)
    finally:
        host_exec(core, "docker", "start", "jitsi-web", check=True)
    assert result.returncode == 1, result.stdout
    assert re.search(r"^  web +exited\(\d+\) ", result.stdout, re.M), result.stdout
    assert re.search(r"^  PROBLEM: +web is exited", result.stdout, re.M), result.stdout


def test_fab_logs_says_why_a_health_log_is_empty(site: Site) -> None:
    """Healthy runs log nothing: an empty log is a sentence with the time the check was armed,
    never an empty section; a log with lines shows them."""
    bridge = site.hosts[1]
    host_exec(bridge, "sh", "-c", ": > /var/log/jitsi-health.log", check=True)
    result = site.fab("logs")
    assert result.returncode == 0, result.stdout + result.stderr
    section = result.stdout.split(f"== {bridge.name} (ok)\n", 1)[1]
    assert re.match(
        r"nothing logged since the health check was armed \(\d{4}-\d\d-\d\dT[\d:]+Z\): "
        r"every run found the stack healthy\n",
        section,
    ), result.stdout


def test_a_services_log_comes_from_the_hosts_that_run_it(site: Site) -> None:
    """prosody with a bridge in the inventory: the core's log, no -H needed."""
    core, bridge = site.hosts
    result = site.fab("logs", "--service", "prosody", "--lines", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"== {core.name} (ok)" in result.stdout and bridge.name not in result.stdout
