"""What a deploy manages on a host: files and directories with their content, owner and mode."""

from __future__ import annotations

from dataclasses import dataclass

from . import paths

ROOT = "root"
# The Jitsi containers run as this user and abort when their mounted folders are not theirs.
CONTAINER_USER = str(paths.CONTAINER_UID)


@dataclass(frozen=True)
class File:
    """A file as it must be on the host.

    + path: absolute remote path.
    + content: the exact bytes.
    + mode, owner, group: what the file must carry.
    + reacts: what has to happen when it changes, e.g. "reload:nginx", "restart:prosody".
    """

    path: str
    content: bytes
    mode: int = 0o644
    owner: str = ROOT
    group: str = ROOT
    reacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Absent:
    """A path the deploy writes only while a feature is on: with the feature off, it is removed
    where present, and ``reacts`` happens (e.g. the TURN server's files, TURN_HOSTNAME emptied)."""

    path: str
    reacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Directory:
    path: str
    mode: int = 0o755
    owner: str = ROOT
    group: str = ROOT


def container_directory(path: str) -> Directory:
    """A folder a Jitsi container writes to: owned by its user, or the container aborts."""
    return Directory(path, 0o755, CONTAINER_USER, CONTAINER_USER)
