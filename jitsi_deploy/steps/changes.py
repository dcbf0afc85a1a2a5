"""A plan is a list of Changes; each carries the commands that make it and a line saying what."""

from __future__ import annotations

import base64
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..model.managed import Directory, File
from ..remote.commands import Command

# Suffixes of the files a deploy leaves beside a managed file: the new one before its atomic
# rename, and the previous one kept for rollback.
NEW_SUFFIX = ".jitsi-deploy-new"
PREVIOUS_SUFFIX = ".jitsi-deploy-prev"


@dataclass(frozen=True)
class Change:
    """One thing that differs from the wanted state.

    + step: the concern it belongs to ("packages", "kernel", "firewall", "files", ...).
    + summary: one line for the progress output and check mode.
    + commands: what makes the change, run in order as root.
    + detail: what check mode shows beneath the summary (a unified diff, a rule list).
    + reacts: what must happen afterwards, e.g. ("reload:nginx",), collected by the handlers.
    + warn_only: a failure is a warning in the recap (e.g. a kernel key a container refuses).
    + file: for a file update, the wanted file (check mode diffs it against the host's copy).
    + explain: turns the output of a failure into advice (e.g. why certbot got no certificate).
    + uploads: large local files (image archives) copied to the host before the step runs.
    """

    step: str
    summary: str
    commands: tuple[Command, ...]
    detail: str = ""
    reacts: tuple[str, ...] = ()
    warn_only: bool = False
    file: File | None = None
    explain: Callable[[str], str] | None = None
    uploads: tuple[Upload, ...] = ()


@dataclass(frozen=True)
class Upload:
    """A local file to copy to ``remote``, a path the SSH user may write."""

    local: Path
    remote: str


@dataclass(frozen=True)
class RemoteFile:
    """A path on the host: its sha256 (files only), mode, and owner and group as name:id."""

    sha256: str
    mode: int
    owner: str
    group: str

    def owned_by(self, owner: str, group: str) -> bool:
        """Whether owner and group match, each given by name or by numeric id."""
        return owner in self.owner.split(":") and group in self.group.split(":")


def write_file(file: File) -> Command:
    """Install ``file`` atomically: write beside it, set owner and mode, keep the old, rename.

    The content travels base64-encoded on stdin: never on a command line, where `ps` shows it.
    """
    script = (
        'set -e; d=$(dirname "$1"); mkdir -p "$d"; '
        f'base64 -d > "$1{NEW_SUFFIX}"; '
        f'chown "$2" "$1{NEW_SUFFIX}"; chmod "$3" "$1{NEW_SUFFIX}"; '
        f'if [ -e "$1" ]; then cp -p "$1" "$1{PREVIOUS_SUFFIX}"; '
        f'else rm -f "$1{PREVIOUS_SUFFIX}"; fi; '
        f'mv -f "$1{NEW_SUFFIX}" "$1"'
    )
    owner = f"{file.owner}:{file.group}"
    return Command(
        ("sh", "-c", script, "write", file.path, owner, f"{file.mode:o}"),
        f"write {file.path}",
        stdin=base64.encodebytes(file.content),
    )


def file_change(step: str, file: File, actual: RemoteFile | None) -> Change:
    """The change that brings ``actual`` to ``file``; its diff is against an empty file until
    check mode fetches the host's copy of an update (see deploy/host.py)."""
    what = "create" if actual is None else "update"
    return Change(
        step,
        f"{what} {file.path}",
        (write_file(file),),
        detail=file_diff(file, ""),
        reacts=file.reacts,
        file=file if actual is not None else None,
    )


def file_diff(file: File, old_text: str) -> str:
    """A unified diff; secret files (no group or other access) keep their content hidden."""
    if file.mode & 0o077 == 0:
        return "(secret content: diff not shown)"
    new = file.content.decode(errors="replace").splitlines(keepends=True)
    old = old_text.splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"{file.path} (host)", f"{file.path} (wanted)"))


def metadata_change(step: str, file: File | Directory, actual: RemoteFile) -> Change | None:
    """chown/chmod only where owner, group or mode differ."""
    commands = []
    if not actual.owned_by(file.owner, file.group):
        owner = f"{file.owner}:{file.group}"
        commands.append(Command(("chown", owner, file.path), f"chown {owner} {file.path}"))
    if actual.mode != file.mode:
        mode = f"{file.mode:o}"
        commands.append(Command(("chmod", mode, file.path), f"chmod {mode} {file.path}"))
    if not commands:
        return None
    return Change(step, f"fix owner/mode of {file.path}", tuple(commands))


def make_directory(directory: Directory) -> Command:
    owner = f"{directory.owner}:{directory.group}"
    return Command(
        (
            "install",
            "-d",
            "-m",
            f"{directory.mode:o}",
            "-o",
            directory.owner,
            "-g",
            directory.group,
            directory.path,
        ),
        f"create {directory.path} ({owner}, {directory.mode:o})",
    )
