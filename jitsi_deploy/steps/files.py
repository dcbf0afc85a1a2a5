"""Directories and files: create or update only what differs by content, owner or mode.

Before anything changes, the reloads and restarts the changes call for are noted on the host
(see handlers.py), so a deploy cut off half-way still reacts on the next run.
"""

from __future__ import annotations

import hashlib
import json

from ..errors import DeployError
from ..model import paths
from ..model.docker_daemon import docker_daemon_settings
from ..model.managed import File
from ..render.host import Rendered
from .changes import Change, RemoteFile, file_change, make_directory, metadata_change
from .facts import Fact, HostFacts, quoted
from .handlers import remember
from .step import PlanInput, Step

NAME = "files"


def managed_paths(rendered: Rendered) -> list[str]:
    return [d.path for d in rendered.directories] + [f.path for f in rendered.files]


def parse_files(output: list[str]) -> dict[str, RemoteFile | None]:
    """``sha mode user:uid group:gid path`` lines; ``-`` when missing, ``dir`` for a folder.

    A link where a managed path belongs is refused here, before anything is written: chown,
    chmod and a write would act on whatever it points to.
    """
    files: dict[str, RemoteFile | None] = {}
    for line in output:
        sha, mode, owner, group, path = line.split(" ", 4)
        if sha == "link":
            raise DeployError(
                f"{path} on the host is a symbolic link to {mode}; the deploy never writes "
                "through a link. Look at it, remove it (someone with access to its folder may "
                "have planted it) and deploy again."
            )
        files[path] = None if sha == "-" else RemoteFile(sha, int(mode, 8), owner, group)
    return files


MANAGED = Fact(
    "files",
    lambda rendered: (
        f"""for f in {quoted(managed_paths(rendered))}; do
  if [ -L "$f" ]; then
    echo "link $(readlink "$f" | tr ' ' _) - - $f"
  elif [ -f "$f" ]; then
    echo "$(sha256sum "$f" | cut -c1-64) $(stat -c '%a %U:%u %G:%g' "$f") $f"
  elif [ -d "$f" ]; then
    echo "dir $(stat -c '%a %U:%u %G:%g' "$f") $f"
  else
    echo "- - - - $f"
  fi
done"""
    ),
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
