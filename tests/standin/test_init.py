"""The init every Jitsi image shares (CONTRACT.md, "Init and user"): s6-overlay v3 runs from
/run, so the container needs an exec tmpfs there; processes run as uid 1000 on a read-only root.

Each image is started as the upstream compose file runs it, then with one thing wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standin.standins import PASSWORDS, TMP_TMPFS, Options, owned_dir, running

pytestmark = pytest.mark.docker

SERVICES = ("web", "prosody", "jicofo", "jvb")


def correct(service: str, tmp_path: Path) -> Options:
    """What upstream's docker-compose.yml at stable-11146-2 gives the service (the parts that
    matter without the rest of the stack)."""
    if service == "web":
        return Options(
            volumes=[f"{owned_dir(tmp_path / 'web')}:/config:ro"],
            env={"DISABLE_HTTPS": "1", "PUBLIC_URL": "https://meet.example.org"},
        )
    if service == "prosody":
        return Options(
            volumes=[
                f"{owned_dir(tmp_path / 'prosody' / 'config')}:/config:ro",
                f"{owned_dir(tmp_path / 'storage' / 'prosody')}:/var/lib/prosody",
            ],
            env=dict(PASSWORDS),
        )
    if service == "jicofo":
        return Options(
            env={
                "JICOFO_AUTH_PASSWORD": PASSWORDS["JICOFO_AUTH_PASSWORD"],
                "JICOFO_ENABLE_HEALTH_CHECKS": "1",
            }
        )
    return Options(env={"JVB_AUTH_PASSWORD": PASSWORDS["JVB_AUTH_PASSWORD"]})


@pytest.mark.parametrize("service", SERVICES)
def test_starts_as_uid_1000_with_the_upstream_run_tmpfs(images, tmp_path, service):
    with running(images[service], correct(service, tmp_path)) as container:
        container.wait_healthy()
        status = container.exec("cat", "/proc/1/status").stdout
        assert "\nUid:\t1000\t1000\t1000\t1000\n" in status, status
        run = container.exec("stat", "-c", "%u", "/run").stdout.strip()
        assert run == "1000", "preinit gives /run to the container user"


@pytest.mark.parametrize("service", SERVICES)
def test_a_plain_run_tmpfs_is_noexec_and_stops_the_container(images, tmp_path, service):
    """Docker mounts `tmpfs: [/run]` rw,nosuid,nodev,noexec: the init in /run cannot run."""
    options = correct(service, tmp_path)
    options.tmpfs = ["/run", TMP_TMPFS]
    with running(images[service], options) as container:
        assert container.wait_exit() != 0
        logs = container.logs()
        assert "/run is mounted noexec" in logs
        assert "Permission denied" in logs


def test_a_read_only_root_without_a_run_tmpfs_stops_the_container(images, tmp_path):
    options = correct("jvb", tmp_path)
    options.tmpfs = [TMP_TMPFS]
    with running(images["jvb"], options) as container:
        assert container.wait_exit() == 100
        assert "a tmpfs cannot be mounted on it" in container.logs()


def test_without_read_only_the_image_layer_takes_the_place_of_the_tmpfs(images, tmp_path):
    """Upstream's image works without read_only too (s6 then runs from the container layer)."""
    options = correct("jvb", tmp_path)
    options.read_only = False
    options.tmpfs = [TMP_TMPFS]
    with running(images["jvb"], options) as container:
        container.wait_healthy()


def test_an_init_process_in_front_stops_the_container(images, tmp_path):
    """compose `init: true` puts docker-init at PID 1; s6-overlay-suexec must be PID 1."""
    options = correct("jvb", tmp_path)
    options.extra = ["--init"]
    with running(images["jvb"], options) as container:
        assert container.wait_exit() == 100
        assert "can only run as pid 1" in container.logs()


def test_no_new_privileges_leaves_run_to_root_and_stops_the_container(images, tmp_path):
    """s6-overlay's preinit needs its setuid helper to hand the root-owned tmpfs to uid 1000."""
    options = correct("jvb", tmp_path)
    options.extra = ["--security-opt", "no-new-privileges"]
    with running(images["jvb"], options) as container:
        assert container.wait_exit() == 100
        assert "preinit: fatal" in container.logs()


def test_dropping_all_capabilities_stops_the_container(images, tmp_path):
    """Preinit needs root's CAP_CHOWN (and the setuid step CAP_SETUID) to hand /run over."""
    options = correct("jvb", tmp_path)
    options.extra = ["--cap-drop", "ALL"]
    with running(images["jvb"], options) as container:
        assert container.wait_exit() != 0
        assert "Operation not permitted" in container.logs()
