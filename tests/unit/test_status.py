"""`fab status`: the parsers from captured output, and the table and the JSON from one model.

status-output/local-engine.txt is the status script's container, digest, disk and memory
sections run against Docker 20.10 on the test machine (containers started as statuscap-*,
renamed to the stack's names): a healthy one, one that exited with 2, one in a restart loop
(`--restart always`, exits after a second), and one that does not exist. certificates.txt is
the certificate section over two openssl certificates (90 and 10 days). The jicofo stats are
the stand-in's answers (tests/standin/rootfs/jicofo), shaped as jicofo's own /stats and /debug.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from jitsi_deploy.model.deployment import load_deployment
from jitsi_deploy.model.services import JICOFO, JVB, PROSODY, WEB, placement_of
from jitsi_deploy.operations import status, status_views
from jitsi_deploy.operations.status import (
    Disk,
    HostStatus,
    Jicofo,
    Memory,
    ServiceStatus,
    host_status,
)

from .test_config import EXAMPLE_HOSTS, write

OUTPUT = Path(__file__).with_name("status-output")
ENGINE = (OUTPUT / "local-engine.txt").read_text()
NOW = 1796398049  # the capture's own clock (its @@now section)
JICOFO_STATS = (
    '{"conferences":1,"total_conferences_created":3,"participants":2,"bridge_selector":'
    '{"bridge_count":2,"operational_bridge_count":2,"in_shutdown_bridge_count":0,'
    '"lost_bridges":0,"bridge_version_count":1},"version":"stand-in","healthy":true}'
)
JICOFO_DEBUG = (
    '{"focus_manager":{"conferences":1},"bridge_selector":{"strategy":'
    '"SingleBridgeSelectionStrategy","bridge":{'
    '"jvbbrewery@internal-muc.meet.jitsi/meet.example.org":{"drain":false,"operational":true},'
    '"jvbbrewery@internal-muc.meet.jitsi/jvb1.example.org":{"drain":true,"operational":true}}}}'
)
BOTH = ("meet.example.org", "jvb1.example.org")
ACTIONS = "2026-12-04T15:01:02Z jitsi-health[4242] ACTION restarted jvb (jicofo-bridges)"


def _sections() -> dict[str, list[str]]:
    return status.split_sections(ENGINE)


def _containers() -> dict[str, ServiceStatus]:
    sections = _sections()
    digests = status.parse_digests(sections["digests"])
    parsed = status.parse_containers(
        [WEB, PROSODY, JICOFO, JVB], sections["containers"], NOW, digests
    )
    return {s.name: s for s in parsed}


def test_a_running_container_with_its_health_image_and_uptime() -> None:
    web = _containers()["web"]
    assert (web.state, web.health, web.restarts) == ("running", "healthy", 0)
    assert web.image == "jitsi-deploy-rig/debian:bookworm"
    assert web.uptime_seconds == 14  # started 15:27:15, the host's clock said 15:27:29
    assert web.digest == "id:84d4ac3dec08"  # a loaded image has no registry digest
    assert web.problem == ""


def test_a_restart_loop_is_restarting_not_running() -> None:
    jvb = _containers()["jvb"]
    assert (jvb.state, jvb.restarts) == ("restarting", 6)
    assert jvb.problem == "jvb is restarting"
    # Between two restarts the engine says "running" for a moment: still the loop.
    line = next(line for line in _sections()["containers"] if line.startswith("jitsi-jvb"))
    running = line.replace("\trestarting\t", "\trunning\t")
    assert status.parse_container(JVB, running, NOW, {}).state == "restarting"
    settled = status.parse_container(JVB, running, NOW + 600, {})
    assert (settled.state, settled.restarts) == ("running", 6)


def test_an_exited_and_a_missing_container() -> None:
    found = _containers()
    assert found["prosody"].state == "exited(2)" and found["prosody"].uptime_seconds is None
    assert found["jicofo"].state == "missing"
    assert found["jicofo"].problem == "jicofo is missing"


def test_docker_not_answering_is_unknown_with_its_reason() -> None:
    line = "jitsi-web\terror\tsh: 6: docker: not found "
    web = status.parse_container(WEB, line, NOW, {})
    assert web.state == "unknown" and web.problem == "web is unknown: sh: 6: docker: not found"


def test_a_registry_digest_is_shown_short() -> None:
    # Docker's RepoDigests form, as `docker image inspect` prints it for a pulled image.
    line = "sha256:aaaa\tghcr.io/jitsi/web@sha256:3f2a1b9c0d1e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b "
    assert status.parse_digests([line]) == {
        "sha256:aaaa": "ghcr.io/jitsi/web@sha256:3f2a1b9c0d1e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b"
    }
    assert status.short_digest("ghcr.io/jitsi/web@sha256:3f2a1b9c0d1e5f6a") == "3f2a1b9c0d1e"


def test_disk_memory_and_certificates() -> None:
    sections = _sections()
    disks = status.parse_disks(sections["disk"])
    assert disks == (Disk("/", 80157704 * 1024, 264212084 * 1024),)  # one file system, once
    assert status.parse_memory(sections["memory"]) == Memory(23783288 * 1024, 24683792 * 1024)
    certificates = status.split_sections((OUTPUT / "certificates.txt").read_text())
    parsed = status.parse_certificates(certificates["certificates"], NOW)
    assert [(c.name, c.days_left) for c in parsed] == [
        ("meet.example.org", 90),
        ("status.example.org", 10),
    ]


def test_jicofo_stats_and_their_absence() -> None:
    seen = status.parse_jicofo([JICOFO_STATS], [JICOFO_DEBUG], BOTH)
    assert seen == Jicofo(BOTH[::-1], 1, 2, expected_bridges=BOTH, draining=("jvb1.example.org",))
    refused = [
        "curl: (7) Failed to connect to 127.0.0.1 port 8888: Couldn't connect to server",
        "exit 7",
    ]
    assert status.parse_jicofo(refused, refused).error.startswith("/stats did not answer (curl:")
    no_debug = status.parse_jicofo([JICOFO_STATS], refused).error
    assert no_debug.startswith("/debug did not answer (curl: (7)")
    assert "no bridge_selector" in status.parse_jicofo([JICOFO_STATS], ['{"x":1}']).error


def test_a_bridge_of_the_inventory_that_jicofo_lacks_is_a_problem() -> None:
    """Not only none at all: one of two missing (a bridge that never joined, or the core's own
    dropping out while another is up) makes `fab status` exit non-zero, and is named."""
    one = JICOFO_DEBUG.replace("jvb1.example.org", "jvb9.example.org")
    seen = status.parse_jicofo([JICOFO_STATS], [one], BOTH)
    one_of_two = HostStatus("meet.example.org", "core", jicofo=seen)
    assert one_of_two.problems == ["jicofo lacks jvb1.example.org of the inventory's bridges"]
    both = status.parse_jicofo([JICOFO_STATS], [JICOFO_DEBUG], BOTH)
    assert HostStatus("meet.example.org", "core", jicofo=both).ok


def test_system_units_name_the_cron_daemon_the_host_has() -> None:
    debian = ["docker active", "nginx active", "cron active", "crond inactive"]
    assert status.parse_system(debian) == {"docker": "active", "nginx": "active", "cron": "active"}
    rhel = ["docker active", "nginx failed", "cron inactive", "crond active"]
    assert status.parse_system(rhel) == {"docker": "active", "nginx": "failed", "crond": "active"}


# The nightly job's line when the backup folder's disk was too small (scripts/jitsi-backup).
BACKUP_FAILED = (
    "2026-12-04T03:30:01Z jitsi-backup FAIL 812.4 MiB to back up but /var/backups/jitsi-deploy "
    "has 97.0 MiB free: nothing written"
)


def _deployment(tmp_path: Path):
    """The example site with its extra bridge (commented out in hosts.example)."""
    hosts = EXAMPLE_HOSTS.replace("# jvb1.example.org", "jvb1.example.org")
    return load_deployment(*write(tmp_path, hosts=hosts), tmp_path / ".secrets.env")


def _core_output() -> str:
    extra = (
        "@@system\ndocker active\nnginx active\ncron active\n"
        f"@@actions\n{ACTIONS}\n@@jicofo\n{JICOFO_STATS}\n@@brewery\n{JICOFO_DEBUG}\n"
        f"@@backup\n{BACKUP_FAILED}\n"
    )
    return ENGINE + extra + (OUTPUT / "certificates.txt").read_text()


def test_the_script_reads_the_core_and_a_bridge_differently(tmp_path: Path) -> None:
    deployment = _deployment(tmp_path)
    core, bridge = (placement_of(deployment, host) for host in deployment.hosts)
    core_sections = [s.name for s in status.sections_for(core)]
    assert {"certificates", "jicofo", "containers", "disk", "memory", "actions"} <= set(
        core_sections
    )
    bridge_script = status.status_script(status.sections_for(bridge))
    assert "jitsi-jvb" in bridge_script and "jitsi-web" not in bridge_script
    assert "@@jicofo" not in bridge_script and "@@certificates" not in bridge_script
    # jicofo's stats are read where the health check reads them: the service model's URL.
    core_script = status.status_script(status.sections_for(core))
    assert "http://127.0.0.1:8888/stats" in core_script
    assert "http://127.0.0.1:8888/debug" in core_script


def test_one_model_gives_the_table_and_the_json(tmp_path: Path) -> None:
    deployment = _deployment(tmp_path)
    core = host_status(placement_of(deployment, deployment.hosts[0]), _core_output())
    ghost = status.failed(
        placement_of(deployment, deployment.hosts[1]),
        "jvb1.example.org: cannot connect to 192.0.2.11:22 (timed out).",
        reachable=False,
    )
    statuses = [core, ghost]
    table = status_views.table(statuses)
    report = json.loads(status_views.as_json(statuses))

    assert report["ok"] is False
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["HOST", "/", "SERVICE", "STATE"]
    assert lines[1] == "meet.example.org (core)"
    json_core, json_ghost = report["hosts"]
    for service in json_core["services"]:
        row = next(line for line in lines if line.startswith(f"  {service['name']} "))
        cells = row.split()
        assert cells[1] == service["state"].split()[0]
        assert cells[-1] == ("-" if service["restarts"] is None else str(service["restarts"]))
        assert (service["digest"] or "-") == cells[4]
    bridges = "jvb1.example.org, meet.example.org (jvb1.example.org draining)"
    assert f"  jicofo:   bridges {bridges}; 1 conferences, 2 participants" in lines
    assert "  cert:     meet.example.org 90 days left, status.example.org 10 days left" in lines
    assert f"  health:   {ACTIONS}" in lines
    assert f"  backup:   {BACKUP_FAILED}" in lines
    assert "  PROBLEM:  the last nightly backup failed (/var/log/jitsi-backup.log)" in lines
    assert json_core["backup"] == BACKUP_FAILED
    assert "  PROBLEM:  jvb is restarting" in lines
    assert "  PROBLEM:  certificate status.example.org: 10 days left" in lines
    assert json_core["problems"] == core.problems and json_core["ok"] is False
    assert json_core["jicofo"] == {
        "bridges": list(BOTH[::-1]),
        "conferences": 1,
        "participants": 2,
        "error": "",
        "expected_bridges": list(BOTH),
        "draining": ["jvb1.example.org"],
    }

    # The unreachable host: one row that says so, and the same in JSON.
    ghost_title = "jvb1.example.org (jvb)"
    ghost_rows = [line for line in lines if line.startswith("jvb1.example.org")]
    assert ghost_rows == [status_views.row((ghost_title, "UNREACHABLE", ghost.error))]
    assert json_ghost["reachable"] is False and json_ghost["services"] == []
    assert lines[-1] == "2 of 2 hosts need attention: meet.example.org, jvb1.example.org."


def test_a_healthy_host_passes() -> None:
    healthy = HostStatus(
        "meet.example.org",
        "core",
        system={"docker": "active"},
        services=(ServiceStatus("web", "jitsi-web", "running", "healthy", restarts=0),),
        jicofo=Jicofo(("meet.example.org",), 0, 0, expected_bridges=("meet.example.org",)),
    )
    assert healthy.ok
    assert status_views.table([healthy]).splitlines()[-1] == "all 1 hosts OK."
    none = Jicofo((), 0, 0, expected_bridges=("meet.example.org",))
    assert not replace(healthy, jicofo=none).ok  # no bridge: no conference works
    unhealthy = replace(healthy.services[0], health="unhealthy")
    assert replace(healthy, services=(unhealthy,)).problems == ["web is unhealthy"]


def test_durations_read_as_people_write_them() -> None:
    assert [status_views.duration(s) for s in (None, 12, 310, 11520, 187200)] == [
        "-",
        "12s",
        "5m10s",
        "3h12m",
        "2d04h",
    ]


def test_every_section_reaches_its_parser_whole(tmp_path: Path) -> None:
    """The core's script run by a real sh, where `docker`, `curl` and `openssl` are stand-ins
    on PATH (no engine or jicofo here) answering as the real ones do: curl's JSON without a
    final newline must not swallow the next section's header."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fakes = {
        "curl": f"""case "$*" in *debug*) printf '%s' '{JICOFO_DEBUG}' ;;
            *) printf '%s' '{JICOFO_STATS}' ;; esac""",
        "docker": "exit 1",
        "openssl": "exit 1",
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    deployment = _deployment(tmp_path)
    core = placement_of(deployment, deployment.hosts[0])
    script = status.status_script(status.sections_for(core))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    output = subprocess.run(
        ["sh", "-s"], input=script, capture_output=True, text=True, env=env, check=True
    ).stdout
    parsed = host_status(core, output)
    drained = ("jvb1.example.org",)
    assert parsed.jicofo == Jicofo(BOTH[::-1], 1, 2, expected_bridges=BOTH, draining=drained)
    assert [s.state for s in parsed.services] == ["unknown"] * 5
    assert parsed.memory is not None and parsed.memory.total_bytes > 0
