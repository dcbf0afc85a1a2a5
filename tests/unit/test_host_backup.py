"""The nightly backup a host makes of itself: what the deploy installs, and the job run here as
cron runs it, with this machine's /usr/bin/python3 (Debian 12's) and the library files exactly
as rendered for a host. Here tar runs without the Kuma stop and the health check's lock (they
need the host's paths); the e2e test runs the whole job on a deployed host."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.backup_job import ROOTS, TAR_SCRIPT, BackupJob, backup_script
from jitsi_deploy.operations.backup import verify_file
from jitsi_deploy.render.host import write_tree
from jitsi_deploy.settings.site import HostBackup
from tests.unit.sites import rendered, site_with, two_hosts

PLAIN_TAR = 'cd / && tar --numeric-owner -czf - -- "$@"'
HOST = "meet.example.org"


def test_every_host_gets_the_job_at_half_past_the_hour_or_a_comment(tmp_path: Path) -> None:
    deployment = two_hosts(tmp_path)
    for host in deployment.hosts:
        files = rendered(deployment, host.name)
        cron = files.file(paths.HOST_BACKUP_CRON).content.decode()
        assert "\n30 3 * * * root umask 077; exec /usr/local/sbin/jitsi-backup --config " in cron
        config = json.loads(files.file(paths.HOST_BACKUP_CONFIG).content)
        assert (config["host"], config["daily"], config["weekly"]) == (host.name, 7, 4)
        assert config["roots"] == list(ROOTS) and config["tar_script"] == TAR_SCRIPT
        assert files.file(paths.HOST_BACKUP_CONFIG).mode == 0o600
    (tmp_path / "off").mkdir()
    off = rendered(site_with(tmp_path / "off", ENABLE_HOST_BACKUP="0"), HOST)
    cron = off.file(paths.HOST_BACKUP_CRON).content.decode()
    assert "# Off: ENABLE_HOST_BACKUP=0." in cron and "root" not in cron
    assert off.site.host_backup == HostBackup(enabled=False, hour=3, daily=7, weekly=4)


def test_fab_backup_and_the_job_run_one_tar_script() -> None:
    assert backup_script(["/opt/jitsi-meet", "/etc/x y"]) == (
        f"set -- opt/jitsi-meet 'etc/x y'; {TAR_SCRIPT}"
    )


@pytest.fixture
def host_tree(tmp_path: Path) -> Path:
    """The core's rendered files, as the deploy writes them under /."""
    (tmp_path / "site").mkdir()
    return write_tree(rendered(two_hosts(tmp_path / "site"), HOST), tmp_path / "tree")


def run_job(tree: Path, job: BackupJob, folder: Path) -> subprocess.CompletedProcess[str]:
    config = folder.parent / "backup.json"
    config.write_bytes(job.config())
    script = tree / paths.HOST_BACKUP_SCRIPT.lstrip("/")
    library = tree / paths.HOST_BACKUP_LIBRARY.lstrip("/")
    argv = ["/usr/bin/python3", "-I", script, "--config", config, "--library", library]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no system python3")
def test_the_job_writes_an_archive_fab_restore_accepts_and_keeps_its_retention(
    host_tree: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "opt/jitsi-meet").mkdir(parents=True)
    (data / "opt/jitsi-meet/.env").write_text("JVB_AUTH_PASSWORD=kept\n")
    folder = tmp_path / "backups"
    roots = (str(data / "opt/jitsi-meet"), str(data / "etc/letsencrypt"))  # the second is absent
    job = BackupJob(HOST, daily=1, weekly=0, roots=roots, folder=str(folder), tar_script=PLAIN_TAR)
    older = folder / HOST / f"{HOST}-20261101T033000Z.tar.gz"
    older.parent.mkdir(parents=True)
    older.write_bytes(b"an older archive")
    stale = folder / HOST / f"{HOST}-20261102T033000Z.tar.gz.partial"
    stale.write_bytes(b"left by a run that was killed")

    done = run_job(host_tree, job, folder)

    assert done.returncode == 0, done.stdout + done.stderr
    assert " jitsi-backup OK " in done.stdout and ", 1 older removed" in done.stdout, done.stdout
    (archive,) = (folder / HOST).iterdir()  # the stale partial and the older archive are gone
    assert archive.stat().st_mode & 0o777 == 0o600
    manifest = verify_file(archive, [])
    assert manifest.host == HOST and manifest.roots == (roots[0].lstrip("/"),)
    assert f"{roots[0].lstrip('/')}/.env" in {m.name for m in manifest.members}


def test_a_disk_too_full_for_the_data_writes_nothing(host_tree: Path, tmp_path: Path) -> None:
    data = tmp_path / "opt"
    data.mkdir()
    folder = tmp_path / "backups"
    free = shutil.disk_usage(tmp_path).free
    job = BackupJob(HOST, 7, 4, (str(data),), str(folder), PLAIN_TAR, margin_bytes=free + 1)

    done = run_job(host_tree, job, folder)

    assert done.returncode == 1
    assert " jitsi-backup FAIL " in done.stdout and "free: nothing written" in done.stdout
    assert os.listdir(folder / HOST) == []


def test_a_second_run_while_one_runs_writes_nothing(host_tree: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    (folder / HOST).mkdir(parents=True)
    job = BackupJob(HOST, 7, 4, (str(tmp_path),), str(folder), PLAIN_TAR)
    with open(folder / ".lock", "a") as running:
        fcntl.flock(running, fcntl.LOCK_EX)
        done = run_job(host_tree, job, folder)
    assert done.returncode == 1 and "FAIL another backup of this host is running" in done.stdout
    assert os.listdir(folder / HOST) == []
