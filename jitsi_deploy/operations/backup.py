"""fab backup and fab restore: a host's data streamed into a verified archive, and back.

What is kept: the stack folder (compose file, its .env with the XMPP passwords, every
service's config, Prosody's accounts under config/storage/prosody, Uptime Kuma's SQLite
data), the certificates nginx serves (the links and self-signed or custom pairs under the TLS
root) and certbot's folder when there is one. The deploy's own bookkeeping under /etc
(firewall plan, daemon settings, digests) is left out: a restored host must be converged by a
deploy, which would otherwise believe a fresh host already had them.

Backup stages nothing on the host: tar writes to SSH, and this side writes each member into
the archive as it arrives, hashing it for the manifest; only this side's free space matters,
checked against the size of the data before the transfer. Uptime Kuma is stopped while tar
runs (its SQLite file is then consistent), under the health check's lock so that check does
not start it mid-copy, and started again whatever happens.

Restore verifies the whole archive before it connects; then it streams the members again,
checking each against the verified manifest, into a staging folder on the host (whose free
space is checked first). Only a complete, matching stream is moved into place: the stack is
stopped, the old folders swapped for the restored ones, nginx reloaded; then the caller runs
the deploy, which converges the host (a fresh one included) with the restored data.
"""

from __future__ import annotations

import os
import shlex
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..deploy.fleet import run_all
from ..deploy.host import Options
from ..errors import DeployError
from ..model import paths
from ..model.backup_job import ROOTS, backup_script, relative
from ..remote.transport import Output, Remote
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..steps.handlers import COMPOSE
from . import crypt
from .archive import ArchiveError, Manifest, archive_writer, verify, write_backup
from .retention import Retention, archive_path, prune

STAGE_DIR = "/var/lib/jitsi-deploy/restore"
# Room for what the archive does not count (tar headers, folders, file system blocks).
MARGIN_BYTES = 64 * 1024 * 1024
TRANSFER_TIMEOUT = 600

Say = Callable[[Host, str], None]


@dataclass(frozen=True)
class BackupResult:
    host: Host
    archive: Path | None = None
    manifest: Manifest | None = None
    removed: tuple[Path, ...] = ()
    error: str = ""


# One line per existing root, "<bytes> <path>", then the free bytes where restore stages.
SIZES_SCRIPT = (
    "for r in " + " ".join(ROOTS) + '; do [ -e "$r" ] && du -sb "$r"; done; '
    f'mkdir -p "$(dirname {STAGE_DIR})" && '
    f'df -PB1 "$(dirname {STAGE_DIR})" | awk \'NR==2 {{print $4, "free"}}\''
)


@dataclass(frozen=True)
class HostSizes:
    roots: dict[str, int]
    free: int

    @property
    def total(self) -> int:
        return sum(self.roots.values())


def host_sizes(remote: Remote) -> HostSizes:
    result = remote.run_script(SIZES_SCRIPT, timeout=300)
    roots, free = {}, -1
    for line in result.stdout.splitlines():
        size, _, name = line.partition("\t") if "\t" in line else line.partition(" ")
        if name.strip() == "free":
            free = int(size)
        elif size.isdigit():
            roots[name.strip()] = int(size)
    if result.exit_code or free < 0:
        raise DeployError(
            f"{remote.host.name}: could not measure what to back up and its free disk "
            f"({result.stderr.strip() or 'no answer'}), so nothing was copied. Is `du` there, "
            "and the host's disk readable? Run `fab status` to see the host."
        )
    return HostSizes(roots, free)


def backup_host(
    host: Host, remote: Remote, folder: Path, keys: list[Any], retention: Retention, say: Say
) -> BackupResult:
    """Stream one host's archive into ``folder``/<host>/, then prune that folder."""
    sizes = host_sizes(remote)
    if paths.STACK_DIR not in sizes.roots:
        raise DeployError(
            f"{host.name}: no {paths.STACK_DIR}: deploy the host before backing it up"
        )
    folder.joinpath(host.name).mkdir(parents=True, exist_ok=True, mode=0o700)
    free = shutil.disk_usage(folder).free
    if free < sizes.total + MARGIN_BYTES:
        raise DeployError(
            f"{host.name}: {_mib(sizes.total)} to back up, but {folder} has only {_mib(free)} "
            f"free (and {_mib(MARGIN_BYTES)} must stay): free space there or choose --to"
        )
    say(host, f"backing up {_mib(sizes.total)} from {', '.join(sizes.roots)}")
    now = datetime.now(UTC)
    target = archive_path(folder, host.name, now, bool(keys))
    partial = target.with_name(target.name + ".partial")
    try:
        manifest, output = _receive(remote, list(sizes.roots), partial, keys, host.name, now)
        if output.exit_code not in (0, 1):  # 1: a file changed while read, the copy is whole
            raise DeployError(
                f"{host.name}: the archive could not be made on the host, so no backup was "
                f"kept (the previous archives are as they were). tar said:\n"
                f"{output.stderr.strip()[-2000:]}\nFix what it names and run `fab backup` again."
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    removed = tuple(prune(folder, host.name, retention))
    return BackupResult(host, target, manifest, removed)


def _receive(
    remote: Remote, roots: list[str], partial: Path, keys: list[Any], host: str, now: datetime
) -> tuple[Manifest, Output]:
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "wb") as out, remote.stream(backup_script(roots), TRANSFER_TIMEOUT) as s:
        with crypt.encrypting(out, keys) if keys else nullcontext(out) as sink:
            manifest = write_backup(
                s.stdout,
                sink,  # type: ignore[arg-type]
                host,
                tuple(relative(r) for r in roots),
                now.isoformat(timespec="seconds"),
                now.timestamp(),
            )
        output = s.finish()
        out.flush()
        os.fsync(out.fileno())
    return manifest, output


@contextmanager
def opened(archive: Path, keys: list[Any]) -> Iterator[IO[bytes]]:
    """The archive's plain stream; an encrypted one needs ``keys`` (--identity)."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    with archive.open("rb") as raw:
        if not crypt.is_encrypted(archive):
            yield raw
            return
        if not keys:
            raise ArchiveError(f"{archive} is encrypted: give --identity with the key to read it")
        with crypt.decrypting(raw, keys) as plain:
            yield plain


def verify_file(archive: Path, keys: list[Any]) -> Manifest:
    """Read the whole archive and check it against its manifest (nothing is contacted)."""
    with opened(archive, keys) as plain:
        return verify(plain)  # type: ignore[arg-type]


_DUMP = shlex.quote(paths.DATABASE_DUMP)


def restore_script(roots: tuple[str, ...]) -> str:
    """Unpack stdin into the staging folder; only when the whole stream arrived intact, stop
    the stack and swap the restored folders in; then reload nginx when it runs. A swap that
    fails half-way puts every folder it moved aside back: the host keeps its data. A database
    dump that came back is marked restored: the deploy that follows loads it (handlers.py)."""
    quoted = shlex.join(roots)
    return (
        f'set -eu; stage={STAGE_DIR}; rm -rf "$stage" "$stage.old"; mkdir -p "$stage"; '
        f'undo() {{ for r in {quoted}; do if [ -e "$stage.old/$r" ]; then '
        'rm -rf "/${r:?}"; mv "$stage.old/$r" "/$r"; fi; done; }; '
        'swapped=; trap \'[ -n "$swapped" ] || undo; rm -rf "$stage" "$stage.old"\' EXIT; '
        'tar --numeric-owner --same-owner -p -xzf - -C "$stage"; '
        f"mkdir -p {paths.HEALTH_STATE_DIR}; exec 9>>{paths.HEALTH_LOCK}; flock -w 600 9; "
        f"if [ -f {paths.COMPOSE_FILE} ] && command -v docker >/dev/null; then "
        f"sh -c {shlex.quote(COMPOSE)} compose stop; fi; "
        f'for r in {quoted}; do mkdir -p "$stage.old/$(dirname "$r")" "/$(dirname "$r")"; '
        'if [ -e "/$r" ]; then mv "/$r" "$stage.old/$r"; fi; mv "$stage/$r" "/$r"; done; '
        "swapped=1; "
        f"if [ -f {_DUMP} ]; then mv -f {_DUMP} {shlex.quote(paths.RESTORED_DUMP)}; fi; "
        "if systemctl is-active --quiet nginx; then nginx -t -q && systemctl reload nginx; fi; "
        "echo restored"
    )


class _Gate:
    """Forwards writes to the host until shut: a stream that failed its check must end without
    the gzip trailer, so the host's tar refuses it and swaps nothing in."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.open = True

    def write(self, data: bytes) -> int:
        if self.open:
            self.target.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""


def restore_to_host(
    remote: Remote, archive: Path, keys: list[Any], manifest: Manifest, say: Say
) -> None:
    """Stream the verified archive's data onto the host and swap it into place."""
    host = remote.host
    sizes = host_sizes(remote)
    needed = manifest.unpacked_bytes + manifest.unpacked_bytes // 10 + MARGIN_BYTES
    if sizes.free < needed:
        raise DeployError(
            f"{host.name}: restoring needs {_mib(needed)} free under {STAGE_DIR}, the host has "
            f"{_mib(sizes.free)}: nothing was changed"
        )
    say(host, f"sending {_mib(manifest.unpacked_bytes)} ({len(manifest.members)} members)")
    with remote.stream(restore_script(manifest.roots), TRANSFER_TIMEOUT) as stream:
        gate = _Gate(stream)
        with opened(archive, keys) as plain, archive_writer(gate, sealed=False) as tar:  # type: ignore[arg-type]
            try:
                again = verify(plain, tar)  # type: ignore[arg-type]
                if again != manifest:
                    raise ArchiveError(f"{archive} changed since it was verified")
            except BaseException:
                gate.open = False
                raise
        output = stream.finish()
    if output.exit_code or "restored" not in output.stdout:
        raise DeployError(
            f"{host.name}: the host could not put the archive's data in place; it kept its own "
            f"data. It said:\n{output.stderr.strip()[-2000:]}\nFix what it names and run the "
            "restore again; if the stack was stopped for the swap, `fab deploy` starts it."
        )


def in_place_of(deployment: Deployment, host: Host, original: str) -> Deployment:
    """The deployment with ``host``, a fresh server the inventory does not list, given the
    settings of the host it replaces: the archive's host, else the core."""
    if any(listed.name == host.name for listed in deployment.hosts):
        return deployment
    core = deployment.core
    site = deployment.sites.get(original) or (
        deployment.sites[core.name] if core else next(iter(deployment.sites.values()))
    )
    return replace(deployment, sites={**deployment.sites, host.name: site})


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB"


def read_keys(encrypt_to: str) -> list[Any]:
    return crypt.recipients(encrypt_to) if encrypt_to else []


def read_identities(identity: str) -> list[Any]:
    return crypt.identities(identity) if identity else []


def retention_of(daily: int, weekly: int) -> Retention:
    retention = Retention(int(daily), int(weekly))
    retention.check()
    return retention


_print_lock = threading.Lock()


def say(host: Host, message: str) -> None:
    with _print_lock:
        print(f"{host.name:<24} {message}", flush=True)


def backup_hosts(
    hosts: list[Host], options: Options, folder: Path, keys: list[Any], retention: Retention
) -> list[BackupResult]:
    """Back up every host in parallel; one host failing leaves the others running."""

    def one(host: Host) -> BackupResult:
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        try:
            return backup_host(host, remote, folder, keys, retention, say)
        except (DeployError, OSError) as error:  # OSError: a local disk, a dropped socket
            return BackupResult(host, error=str(error))
        finally:
            remote.close()

    return run_all(hosts, one)


def print_backups(results: list[BackupResult]) -> bool:
    """The per-host recap; whether every host was backed up."""
    print("\nRECAP")
    for result in results:
        if result.error:
            print(f"  {result.host.name:<24} FAILED\n      {result.error}")
            continue
        assert result.archive and result.manifest
        size = _mib(result.archive.stat().st_size)
        print(
            f"  {result.host.name:<24} {result.archive} ({size}, "
            f"{len(result.manifest.members)} members)"
        )
        for path in result.removed:
            print(f"      removed by retention: {path.name}")
    return not any(result.error for result in results)
