"""Prosody's data moved from files into PostgreSQL when ENABLE_POSTGRES comes on.

A core whose Prosody kept accounts and data in files gets them copied into the database by
Prosody's own migrator, before the handlers recreate Prosody on SQL storage: PostgreSQL is
started alone, the migrator runs once in a container of Prosody's (derived) image, and only
then is the move marked done. A failure stops the deploy with Prosody still on its files
(and without its SQL settings, which a restart would otherwise read); the next deploy tries
again. The files stay as they are. The mark keeps a later deploy from
copying them over what Prosody has written to the database since.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..model import paths
from ..model.services import (
    POSTGRES,
    POSTGRES_PASSWORD,
    POSTGRES_READY,
    PROSODY,
    PROSODY_DATABASE,
    PROSODY_SQL_SETTINGS,
    SqlDatabase,
    container_name,
)
from ..remote.commands import Command
from ..render.host import Rendered, template
from .changes import Change
from .facts import Fact
from .handlers import COMPOSE
from .step import PlanInput, Step

NAME = "storage"
# Prosody's data folder, in its container and on the host (the storage/prosody volume).
CONTAINER_DATA = "/var/lib/prosody/data"
HOST_DATA = f"{paths.CONFIG_DIR}/storage/prosody/data"
MIGRATOR_CONFIG = "/migrator.cfg.lua"


@dataclass(frozen=True)
class Stores:
    """What the data folder holds: host -> store names (``name-archive`` for archives, as the
    migrator names them), or that it was moved into the database already."""

    moved: bool = False
    hosts: dict[str, list[str]] = field(default_factory=dict)


def moves(rendered: Rendered) -> bool:
    """Whether the host's Prosody is to keep its data in PostgreSQL."""
    return rendered.site.postgres and PROSODY in rendered.services


# The mark, else the files of the store folders: HOST/STORE/USER.dat (keyval) or .list
# (archive), the host name as Prosody encodes it on disk. Only read until the move is done.
LIST_STORES = (
    'test -e "$1" && echo moved && exit 0; '
    "find \"$2\" -mindepth 3 -maxdepth 3 -type f \\( -name '*.dat' -o -name '*.list' \\) "
    "-printf '%P\\n' 2>/dev/null; true"
)


def _stores_command(rendered: Rendered) -> str:
    if not moves(rendered):
        return "true"
    return shlex.join(("sh", "-c", LIST_STORES, "stores", paths.STORAGE_MOVED, HOST_DATA))


def parse_stores(lines: list[str]) -> Stores:
    if lines == ["moved"]:
        return Stores(moved=True)
    hosts: dict[str, list[str]] = {}
    for line in lines:
        encoded, store, item = line.split("/")
        name = f"{store}-archive" if item.endswith(".list") else store
        names = hosts.setdefault(_decoded(encoded), [])
        if name not in names:
            names.append(name)
    return Stores(hosts=hosts)


def _decoded(encoded: str) -> str:
    """A host name as Prosody's data folder spells it: each character but letters and
    digits as %xx."""
    parts = encoded.split("%")
    return parts[0] + "".join(chr(int(p[:2], 16)) + p[2:] for p in parts[1:])


STORES = Fact("prosody-stores", _stores_command, parse_stores)


def migrator_config(
    hosts: dict[str, list[str]], password: str, sql: SqlDatabase = PROSODY_DATABASE
) -> bytes:
    """From the files of Prosody's data folder (in its container) into the database."""
    context = {"data_path": CONTAINER_DATA, "hosts": hosts, "sql": sql, "password": password}
    return template("prosody/migrator.cfg.lua.j2", context)


# Starts PostgreSQL alone, asks it as its healthcheck does until it takes connections, copies
# the stores with the migrator (its config from stdin, in a private folder readable by the
# image's user only) and marks the move done. Until the mark is written, any failure removes
# Prosody's SQL settings again (the files step wrote them): a restart of Prosody before the
# next deploy then keeps it on its files, and the next deploy writes them and moves again.
MOVE = (
    "mark=$1 settings=$2 container=$3; shift 3; folder=$(mktemp -d); "
    'trap \'rm -rf "$folder"; [ -e "$mark" ] || rm -f "$settings"\' EXIT; set -e; '
    f"sh -c {shlex.quote(COMPOSE)} compose up -d --no-deps {POSTGRES.name}; "
    'i=0; until docker exec "$container" "$@"; do i=$((i + 1)); '
    '[ "$i" -lt 120 ] || { echo "PostgreSQL did not become ready" >&2; exit 1; }; sleep 1; done; '
    '(umask 077; cat > "$folder/config"); '
    f'chown {paths.CONTAINER_UID} "$folder/config"; '
    f"sh -c {shlex.quote(COMPOSE)} compose run --rm --no-deps -T "
    f'-v "$folder/config:{MIGRATOR_CONFIG}:ro" --entrypoint prosody-migrator '
    f"{PROSODY.name} --config={MIGRATOR_CONFIG} files database; "
    'date -u > "$mark"'
)


def migration(rendered: Rendered, stores: Stores) -> Change:
    count = sum(len(names) for names in stores.hosts.values())
    ready = POSTGRES_READY[1:]  # without compose's "CMD"
    arguments = (paths.STORAGE_MOVED, PROSODY_SQL_SETTINGS, container_name(POSTGRES.name), *ready)
    # Under the health check's lock, as every compose command of the deploy (handlers.compose).
    move = Command(
        ("flock", "-w", "600", paths.HEALTH_LOCK, "sh", "-c", MOVE, "move", *arguments),
        "start PostgreSQL, then copy Prosody's stores into it with prosody-migrator",
        stdin=migrator_config(stores.hosts, rendered.site.secrets[POSTGRES_PASSWORD.name]),
    )
    summary = (
        f"move Prosody's accounts and data from files into PostgreSQL ({count} stores of "
        f"{', '.join(sorted(stores.hosts))}); the files stay"
    )
    return Change(NAME, summary, (move,))


def plan(given: PlanInput) -> list[Change]:
    stores = given.facts[STORES]
    if not moves(given.rendered) or stores.moved or not stores.hosts:
        return []
    return [migration(given.rendered, stores)]


STEP = Step(NAME, (STORES,), plan)
