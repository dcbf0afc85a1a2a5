"""fab backup of the deployed core, fab restore onto a fresh Debian 12 host: the same service
comes back (account, monitors, room password, certificate); a damaged archive is refused
before the fresh host is touched."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.operations.backup import verify_file
from tests.e2e.site import Site, bundle, host_state
from tests.rig.hosts import TestHost, host_exec

pytestmark = pytest.mark.slow

SITE_NAME = "meet.example.org"
ACCOUNT, DOMAIN, PASSWORD = "backupcheck", "auth.meet.jitsi", "kept-across-hosts-7"
# Prosody names the files of a host and a user with every non-alphanumeric character escaped.
ACCOUNTS = f"{paths.CONFIG_DIR}/storage/prosody/data/auth%2emeet%2ejitsi/accounts"
ACCOUNT_FILE = f"{ACCOUNTS}/{ACCOUNT}.dat"
# What a restore writes: the data, the certificates, its staging folder.
RESTORED_PATHS = [paths.STACK_DIR, paths.TLS_ROOT, "/var/lib/jitsi-deploy"]
ROOM_POLICY = f"{paths.PROSODY_CONF_D}/room-policy.cfg.lua"
# The stand-in renders its config under /run, the image's own under /config.
PROSODYCTL = (
    "c=/config/prosody.cfg.lua; [ -f $c ] || c=/run/prosody/config/prosody.cfg.lua; "
    'exec prosodyctl --config "$c" shell "$@"'
)


def prosody_shell(host: TestHost, *command: str, input: str | None = None):
    return host_exec(
        host, "docker", "exec", "-i", "jitsi-prosody", "sh", "-c", PROSODYCTL, "sh", *command,
        input=input,
    )  # fmt: skip


def served_certificate(host: TestHost) -> str:
    """The sha256 fingerprint of the certificate the host's nginx serves for the site."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection((host.address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=SITE_NAME) as tls,
    ):
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def kuma_rows(host: TestHost, folder: Path) -> tuple[dict[str, int], str]:
    """Uptime Kuma's monitors (name: id) and its admin's password hash, read from a copy of
    its data. bcrypt salts each hash: a Kuma set up afresh has another one."""
    copy = folder / host.name
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["docker", "cp", f"{host.name}:{paths.KUMA_DATA_DIR}/.", str(copy)], check=True)
    with sqlite3.connect(copy / "kuma.db") as db:
        names = dict(db.execute("select name, id from monitor").fetchall())
        (admin,) = db.execute("select password from user where username = 'admin'").fetchone()
    return names, admin


def file_sha(host: TestHost, path: str) -> str:
    return host_exec(host, "sha256sum", path, check=True).stdout.split()[0]


def restore(
    site: Site, archive: Path, host: TestHost, *extra: str
) -> subprocess.CompletedProcess[str]:
    return site.fab(
        "-i", str(host.key_path), "-H", f"root@{host.address}", "restore", "--from", str(archive),
        "--bundle", str(bundle()), "--no-smoke", *extra,
    )  # fmt: skip


def test_the_nightly_job_on_the_host_makes_the_archive_fab_restore_takes(
    site: Site, tmp_path: Path
) -> None:
    """The deployed core's cron entry, run as cron runs it: an archive in the host's own backup
    folder, root's alone, that passes restore's verification and holds the accounts; Kuma runs
    again afterwards. First in the module: the restores below leave a Kuma still starting,
    which takes `docker stop`'s whole 30 s, as no nightly run meets."""
    core = site.hosts[0]
    cron = host_exec(core, "cat", paths.HOST_BACKUP_CRON, check=True).stdout
    (entry,) = [line for line in cron.splitlines() if line.startswith("30 3 * * * root ")]
    host_exec(core, "sh", "-c", entry.removeprefix("30 3 * * * root "), check=True)

    log = host_exec(core, "tail", "-n", "1", paths.HOST_BACKUP_LOG, check=True).stdout
    assert " jitsi-backup OK " in log, log
    folder = f"{paths.HOST_BACKUP_DIR}/{core.name}"
    listed = host_exec(core, "stat", "-c", "%a %U %n", paths.HOST_BACKUP_DIR, folder, check=True)
    (archive,) = host_exec(core, "sh", "-c", f"ls {folder}/*.tar.gz", check=True).stdout.split()
    modes = host_exec(core, "stat", "-c", "%a %U", archive, check=True).stdout.strip()
    assert listed.stdout.split("\n")[0].startswith("700 root") and modes == "600 root"
    local = tmp_path / Path(archive).name
    subprocess.run(["docker", "cp", f"{core.name}:{archive}", str(local)], check=True)
    manifest = verify_file(local, [])
    assert manifest.host == core.name
    assert ACCOUNTS.lstrip("/") in {m.name for m in manifest.members}
    running = host_exec(core, "docker", "inspect", "-f", "{{.State.Running}}", "jitsi-uptime-kuma")
    assert running.stdout.strip() == "true", "Kuma must run again after the backup"


def test_a_backup_restored_onto_a_fresh_host_serves_as_the_original(
    site: Site, make_host, tmp_path: Path
) -> None:
    core = site.hosts[0]
    created = prosody_shell(core, "user", "create", f"{ACCOUNT}@{DOMAIN}", PASSWORD)
    assert host_exec(core, "test", "-f", ACCOUNT_FILE).returncode == 0, created.stdout
    certificate = served_certificate(core)
    policy = file_sha(core, ROOM_POLICY)

    started = time.monotonic()
    backup = site.fab("backup", "--to", str(tmp_path / "backups"))  # both hosts, in parallel
    backup_seconds = time.monotonic() - started
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (archive,) = (tmp_path / "backups" / core.name).glob("*.tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    (bridge_archive,) = (tmp_path / "backups" / site.hosts[1].name).glob("*.tar.gz")
    bridge_files = {r.name for r in verify_file(bridge_archive, []).members}
    assert "opt/jitsi-meet/.env" in bridge_files, "the bridge's user reads it through sudo"
    running = host_exec(core, "docker", "inspect", "-f", "{{.State.Running}}", "jitsi-uptime-kuma")
    assert running.stdout.strip() == "true", "Kuma must run again after the backup"
    monitors, admin = kuma_rows(core, tmp_path / "kuma-a")
    assert any(name.startswith("jitsi-deploy:") for name in monitors), monitors

    fresh = make_host("bookworm")
    site.trust(*site.hosts, fresh)
    untouched = host_state(fresh, RESTORED_PATHS)
    data, middle = archive.read_bytes(), archive.stat().st_size // 2
    flipped = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
    for name, damaged in (("truncated", data[: len(data) * 2 // 3]), ("flipped", flipped)):
        bad = tmp_path / f"{name}.tar.gz"
        bad.write_bytes(damaged)
        refused = restore(site, bad, fresh)
        assert refused.returncode != 0 and "nothing was touched" in refused.stderr, refused
        assert host_state(fresh, RESTORED_PATHS) == untouched

    started = time.monotonic()
    restored = restore(site, archive, fresh)
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stdout + restored.stderr
    size = archive.stat().st_size
    print(f"backup {backup_seconds:.1f}s, {size} bytes; restore {restore_seconds:.1f}s")

    assert served_certificate(fresh) == certificate
    assert file_sha(fresh, ROOM_POLICY) == policy
    assert file_sha(fresh, ACCOUNT_FILE) == file_sha(core, ACCOUNT_FILE)
    assert host_exec(fresh, "stat", "-c", "%u", ACCOUNT_FILE).stdout.strip() == "1000"
    restored_monitors, restored_admin = kuma_rows(fresh, tmp_path / "kuma-b")
    assert restored_admin == admin, "Kuma's own database is back, not a Kuma set up afresh"
    # The deploy renames the monitors of the replaced host for the new one; the others are
    # the very rows of the backup (same ids). The new core, named with -H alone, expects its
    # own bridge in jicofo only (the inventory's bridge dials the old core): that monitor goes.
    other_bridge = f"bridge {site.hosts[1].name} in jicofo"
    renamed = {
        name.replace(core.name, fresh.address): id
        for name, id in monitors.items()
        if not name.endswith(other_bridge)
    }
    assert renamed.keys() == restored_monitors.keys()
    kept = {name: id for name, id in monitors.items() if core.name not in name}
    assert kept and kept.items() <= restored_monitors.items()

    smoke = site.fab(
        "-i", str(fresh.key_path), "-H", f"root@{fresh.address}",
        "smoke", "--resolve", f"{fresh.address}:443", "--wait", "120",
    )  # fmt: skip
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "ok    private room with password" in smoke.stdout, smoke.stdout
    listed = prosody_shell(fresh, "user", "list", DOMAIN)
    assert f"{ACCOUNT}@{DOMAIN}" in listed.stdout.split(), listed.stdout + listed.stderr


def test_an_encrypted_backup_restored_onto_the_same_host_brings_back_a_deleted_account(
    site: Site, tmp_path: Path
) -> None:
    """age to the operator's SSH key on the way out, the private key on the way back; the
    running stack is stopped, its folders swapped, and the deploy starts it again."""
    core = site.hosts[0]
    account = "samehostcheck"
    prosody_shell(core, "user", "create", f"{account}@{DOMAIN}", PASSWORD)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    backup = site.fab(
        "-H", f"root@{core.address}", "backup", "--to", str(tmp_path / "backups"),
        "--encrypt-to", f"{key}.pub",
    )  # fmt: skip
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (archive,) = (tmp_path / "backups" / core.name).glob("*.tar.gz.age")
    assert b"PRIVATE" not in archive.read_bytes() and b"prosody" not in archive.read_bytes()

    prosody_shell(core, "user", "delete", f"{account}@{DOMAIN}")
    assert host_exec(core, "test", "-e", f"{ACCOUNTS}/{account}.dat").returncode != 0
    refused = restore(site, archive, core)
    assert refused.returncode != 0 and "--identity" in refused.stderr, refused.stderr

    restored = restore(site, archive, core, "--identity", str(key))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert host_exec(core, "test", "-f", f"{ACCOUNTS}/{account}.dat").returncode == 0
    running = host_exec(core, "docker", "ps", "--format", "{{.Names}}").stdout.split()
    assert {"jitsi-web", "jitsi-prosody", "jitsi-jicofo", "jitsi-jvb"} <= set(running)
