"""Directories and files: create or update only what differs by content, owner or mode."""

from __future__ import annotations

import hashlib
import json

from .. import paths
from ..changes import Change, file_change, make_directory, metadata_change
from ..errors import DeployError
from ..facts import HostFacts, daemon_settings
from ..render import File, Rendered, docker_daemon_settings

STEP = "files"


def managed_files(rendered: Rendered, facts: HostFacts) -> list[File]:
    """The rendered files plus /etc/docker/daemon.json with this project's keys merged in."""
    return [*rendered.files, *_daemon_json(rendered, facts)]


def file_changes(rendered: Rendered, facts: HostFacts) -> list[Change]:
    changes = []
    for directory in rendered.directories:
        actual = facts.files.get(directory.path)
        if actual is None:
            changes.append(Change(STEP, f"create {directory.path}", (make_directory(directory),)))
        elif fix := metadata_change(STEP, directory, actual):
            changes.append(fix)
    for file in managed_files(rendered, facts):
        actual = facts.files.get(file.path)
        if actual is None or actual.sha256 != hashlib.sha256(file.content).hexdigest():
            changes.append(file_change(STEP, file, actual))
        elif fix := metadata_change(STEP, file, actual):
            changes.append(fix)
    return changes


def _daemon_json(rendered: Rendered, facts: HostFacts) -> list[File]:
    """Merge, never overwrite: keys the admin set in daemon.json stay as they are."""
    try:
        current = daemon_settings(facts)
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
