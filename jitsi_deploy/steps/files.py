"""Directories and files: create or update only what differs by content, owner or mode.

Before anything changes, the reloads and restarts the changes call for are noted on the host
(see handlers.py), so a deploy cut off half-way still reacts on the next run.
"""

from __future__ import annotations

import hashlib
import json
import re

from ..errors import DeployError
from ..model import paths
from ..model.docker_daemon import docker_daemon_settings
from ..model.managed import File
from ..remote.commands import Command
from ..render.host import Rendered
from .changes import Change, RemoteFile, file_change, make_directory, metadata_change
from .facts import Fact, HostFacts, quoted
from .handlers import remember
from .step import PlanInput, Step

NAME = "files"


def managed_paths(rendered: Rendered) -> list[str]:
    """Every path the plan compares: what must be there, and what must not (``absent``)."""
    items = (*rendered.directories, *rendered.files, *rendered.absent)
    return [item.path for item in items]


# find lists each managed path as it is (a link is not followed, a missing path is not listed)
# and sha256sum hashes the regular files: two processes for some fifty paths, where a loop ran
# four per path and spent most of a no-op deploy's CPU on the host.
LIST_AND_HASH = r"""find "$@" -maxdepth 0 -printf '%y %m %u:%U %g:%G %p\t%l\n' 2>/dev/null
find "$@" -maxdepth 0 -type f -exec sha256sum -- {} + 2>/dev/null; true"""
SHA_LINE = re.compile(r"^([0-9a-f]{64})  (/.*)$")


def parse_files(output: list[str]) -> dict[str, RemoteFile | None]:
    """find's ``type mode user:uid group:gid path<TAB>link target`` lines, and sha256sum's
    ``sha  path`` lines for the files; a path in neither is missing (absent from the dict).

    A link where a managed path belongs is refused here, before anything is written: chown,
    chmod and a write would act on whatever it points to.
    """
    found: dict[str, tuple[str, str, str, str]] = {}
    hashes: dict[str, str] = {}
    for line in output:
        if hashed := SHA_LINE.match(line):
            hashes[hashed.group(2)] = hashed.group(1)
            continue
        described, _, target = line.partition("\t")
        kind, mode, owner, group, path = described.split(" ", 4)
        if kind == "l":
            raise DeployError(
                f"{path} on the host is a symbolic link to {target}; the deploy never writes "
                "through a link. Look at it, remove it (someone with access to its folder may "
                "have planted it) and deploy again."
            )
        found[path] = (kind, mode, owner, group)
    return {
        path: RemoteFile(hashes.get(path, "dir" if kind == "d" else ""), int(mode, 8), owner, group)
        for path, (kind, mode, owner, group) in found.items()
    }


MANAGED = Fact(
    "files",
    lambda rendered: f"( set -- {quoted(managed_paths(rendered))}\n{LIST_AND_HASH} )",
    parse_files,
)


DAEMON_JSON = Fact(
    "daemon-json",
    lambda rendered: f"cat {paths.DOCKER_DAEMON_JSON} 2>/dev/null",
    lambda output: "\n".join(output) or None,
)


def file_changes(rendered: Rendered, facts: HostFacts) -> list[Change]:
    changes = []
    actual_files = facts[MANAGED]
    for directory in rendered.directories:
        actual = actual_files.get(directory.path)
        if actual is None:
            changes.append(Change(NAME, f"create {directory.path}", (make_directory(directory),)))
        elif fix := metadata_change(NAME, directory, actual):
            changes.append(fix)
    for file in [*rendered.files, *_daemon_json(rendered, facts[DAEMON_JSON])]:
        actual = actual_files.get(file.path)
        if actual is None or actual.sha256 != hashlib.sha256(file.content).hexdigest():
            changes.append(file_change(NAME, file, actual))
        elif fix := metadata_change(NAME, file, actual):
            changes.append(fix)
    for absent in rendered.absent:
        if actual_files.get(absent.path) is not None:
            remove = Command(("rm", "-f", "--", absent.path), f"remove {absent.path}")
            summary = f"remove {absent.path} (its feature is off)"
            changes.append(Change(NAME, summary, (remove,), reacts=absent.reacts))
    return changes


def _daemon_json(rendered: Rendered, current_text: str | None) -> list[File]:
    """Merge, never overwrite: keys the admin set in daemon.json stay as they are."""
    try:
        current = json.loads(current_text) if current_text else {}
    except json.JSONDecodeError as error:
        raise DeployError(
            f"{paths.DOCKER_DAEMON_JSON} on the host is not valid JSON ({error}). Fix it by "
            "hand: the deploy merges its settings into that file and will not guess."
        ) from None
    merged = {**current, **docker_daemon_settings(rendered.site)}
    if merged == current:
        return []
    content = (json.dumps(merged, indent=2, sort_keys=True) + "\n").encode()
    return [File(paths.DOCKER_DAEMON_JSON, content, reacts=("restart:docker",))]


def plan(given: PlanInput) -> list[Change]:
    changes = file_changes(given.rendered, given.facts)
    if not changes:
        return []
    return [remember(r for change in changes for r in change.reacts), *changes]


STEP = Step(NAME, (MANAGED, DAEMON_JSON), plan)
