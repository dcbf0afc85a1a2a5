"""What a backup holds, the shell that reads it on a host, and the nightly job each host runs.

`fab backup` streams a host's roots to the operator's machine; the nightly job
(scripts/jitsi-backup) writes the same archive on the host itself, with the project's own
archive code copied there, so `fab restore --from` takes either.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass

from ..settings.inventory import Host
from ..settings.site import Site
from . import paths
from .services import POSTGRES, PROSODY_DATABASE, UPTIME_KUMA, container_name

LETSENCRYPT_DIR = "/etc/letsencrypt"


def relative(root: str) -> str:
    return root.lstrip("/")


ROOTS = (paths.STACK_DIR, paths.TLS_ROOT, LETSENCRYPT_DIR)
# tar of the roots given as arguments (relative to /) to stdout, under the health check's lock
# so that check starts nothing mid-copy. Uptime Kuma is stopped meanwhile (its SQLite file is
# then consistent) and started again whatever happens. A running PostgreSQL's files would not be
# consistent either, and stopping it would stop Prosody's logins: its database goes in as a
# dump instead, removed from the host afterwards, and its files stay out. A stopped one's files
# are consistent (and there is nothing to dump them): they go in as they are.
_KUMA = shlex.quote(container_name(UPTIME_KUMA.name))
_POSTGRES = shlex.quote(container_name(POSTGRES.name))
_DUMP = shlex.quote(paths.DATABASE_DUMP)
_PG_DUMP = f"pg_dump -U {PROSODY_DATABASE.username} -d {PROSODY_DATABASE.database} -Fc"


def _running(container: str) -> str:
    return f"[ \"$(docker inspect -f '{{{{.State.Running}}}}' {container} 2>/dev/null)\" = true ]"


TAR_SCRIPT = (
    f"mkdir -p {paths.HEALTH_STATE_DIR}; exec 9>>{paths.HEALTH_LOCK}; "
    "flock -w 600 9 || { echo 'the health check holds its lock' >&2; exit 3; }; "
    "after=:; trap 'eval \"$after\"' EXIT; "
    f"if {_running(_KUMA)}; then docker stop -t 30 {_KUMA} >/dev/null || exit 3; "
    f'after="$after; docker start {_KUMA} >/dev/null"; fi; '
    f'skip=; if {_running(_POSTGRES)}; then after="$after; rm -f {_DUMP}"; '
    f"(umask 077; docker exec {_POSTGRES} {_PG_DUMP} > {_DUMP}) || exit 3; "
    f"skip=--exclude={relative(paths.POSTGRES_DATA_DIR)}; fi; "
    'cd / && tar --numeric-owner ${skip:+"$skip"} -czf - -- "$@"'
)
# The modules the job imports, under HOST_BACKUP_LIBRARY/jitsi_deploy/ as in the package.
LIBRARY = (
    "__init__.py",
    "errors.py",
    "operations/__init__.py",
    "operations/archive.py",
    "operations/retention.py",
)


def backup_script(roots: list[str]) -> str:
    """TAR_SCRIPT for ``roots``, as one script (fab backup sends it with `sh -c`)."""
    return f"set -- {shlex.join(relative(r) for r in roots)}; {TAR_SCRIPT}"


@dataclass(frozen=True)
class BackupJob:
    """The job's settings, as scripts/jitsi-backup reads them from HOST_BACKUP_CONFIG.

    + host: the inventory name, which names the archives (as `fab backup` names them).
    + margin_bytes: free space that must stay beside the archive, over the data's size.
    """

    host: str
    daily: int
    weekly: int
    roots: tuple[str, ...] = ROOTS
    folder: str = paths.HOST_BACKUP_DIR
    tar_script: str = TAR_SCRIPT
    margin_bytes: int = 64 * 1024 * 1024

    def config(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()


def backup_job(site: Site, host: Host) -> BackupJob:
    return BackupJob(host.name, site.host_backup.daily, site.host_backup.weekly)
