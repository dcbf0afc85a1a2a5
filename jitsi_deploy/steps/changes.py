"""A plan is a list of Changes; each carries the commands that make it and a line saying what."""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..model import paths
from ..model.managed import Directory, File
from ..remote.commands import Command


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
    + ends_meetings: it restarts or recreates a service that carries conferences (the deploy
      warns, and asks first, when people are meeting: deploy/meetings.py).
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
    ends_meetings: bool = False


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


# Installs one file as root where someone else may control the folder (the Jitsi containers
# own theirs, as uid 1000): nothing is written through a link, and nothing is readable by others
# before its mode is set. The new content is staged in the nearest folder on the way that only
# root can change, made there with umask 077, given its owner and mode, then renamed into place
# (rename replaces a name, it never follows a link). The previous content is kept for rollback in
# a root-only tree, never beside the file. A link anywhere on the path is refused, not removed:
# it is the operator's to look at.
WRITE_SCRIPT = r"""set -eu
target=$1 owner=$2 mode=$3 previous=$4
refuse() {
  echo "refused to write $target: $*" >&2
  exit 3
}
no_links() {
  walked=
  IFS=/
  set -f
  for part in ${target#/}; do
    walked=$walked/$part
    if [ -L "$walked" ]; then
      refuse "$walked is a symbolic link. The deploy never writes through a link: look at" \
        "where it points, remove it (someone with access to that folder may have planted it)" \
        "and deploy again."
    fi
  done
  unset IFS
  set +f
}
only_mine() {
  [ "$(stat -c %u "$1")" = "$(id -u)" ] && [ $((0$(stat -c %a "$1") & 022)) -eq 0 ]
}
no_links
folder=${target%/*}
folder=${folder:-/}
(umask 022 && mkdir -p "$folder")
no_links
[ ! -d "$target" ] || refuse "it is a folder on the host; move it away and deploy again."
umask 077
stage=$folder
until only_mine "$stage"; do
  [ "$stage" != / ] || refuse "no folder on its path is root's alone to stage the file in."
  stage=${stage%/*}
  stage=${stage:-/}
done
[ "$(stat -c %d "$stage")" = "$(stat -c %d "$folder")" ] ||
  refuse "$stage, the nearest folder only root controls, is on another file system."
new=$(mktemp "$stage/.jitsi-deploy-new.XXXXXXXX")
trap 'rm -f "$new"' EXIT
base64 -d >"$new"
chown -h "$owner" "$new"
chmod "$mode" "$new"
mkdir -p "${previous%/*}"
if [ -f "$target" ]; then cp -P -p -f "$target" "$previous"; else rm -f "$previous"; fi
no_links
mv -f -T "$new" "$target"
"""


def previous_copy(path: str, root: str = paths.PREVIOUS_FILES_DIR) -> str:
    """Where the content a deploy replaced at ``path`` is kept, for putting it back."""
    return f"{root}{path}"


def write_file(file: File, previous_root: str = paths.PREVIOUS_FILES_DIR) -> Command:
    """Install ``file`` safely and atomically (see WRITE_SCRIPT), keeping the previous content.

    The content travels base64-encoded on stdin: never on a command line, where `ps` shows it.
    """
    owner = f"{file.owner}:{file.group}"
    previous = previous_copy(file.path, previous_root)
    return Command(
        ("sh", "-c", WRITE_SCRIPT, "write", file.path, owner, f"{file.mode:o}", previous),
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


# In a private file (others cannot read it), a line naming one of these holds a secret.
# A webhook's URL is often its own secret (a chat service's hook path).
_SECRET_KEY = re.compile(r"(?i)password|secret|token|webhook")
_PUSH_TOKEN = re.compile(r"(/api/push/)[^\s'\"?&]+")
# A private key's body, up to its END line (or the end of a file cut short).
_PEM_KEY = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----\n)(.*?)(?=-----END |\Z)", re.S)
MASK = "********"
_COMMENTS = ("#", "--")  # shell and Lua comments name secrets, never hold them


def file_diff(file: File, old_text: str) -> str:
    """A unified diff; in a private file (others cannot read it) the values of the lines
    that hold secrets are masked on both sides, so a change of another line shows, and a
    changed secret shows as a changed line without its value. Masking goes by key, as the
    host's copy may hold old secrets this side never knew."""
    new = file.content.decode(errors="replace")
    if file.mode & 0o007 == 0:
        new, old_text = mask_secrets(new), mask_secrets(old_text)
    old_lines, new_lines = old_text.splitlines(keepends=True), new.splitlines(keepends=True)
    host, wanted = f"{file.path} (host)", f"{file.path} (wanted)"
    return "".join(difflib.unified_diff(old_lines, new_lines, host, wanted))


def mask_secrets(text: str) -> str:
    """Each secret's value masked: on its key's line, over the block that line opens (a Lua
    table of room passwords) up to its closing brace, or a PEM private key's body."""
    masked, inside = [], False
    for line in _PEM_KEY.sub(_pem_key_masked, text).splitlines(keepends=True):
        if inside:
            inside = line.strip() != "}"
            masked.append(_value_masked(line) if inside else line)
        elif _PUSH_TOKEN.search(line):
            masked.append(_PUSH_TOKEN.sub(rf"\g<1>{MASK}", line))
        elif _SECRET_KEY.search(line) and not line.lstrip().startswith(_COMMENTS):
            masked.append(_value_masked(line))
            inside = line.rstrip().endswith("{")
        else:
            masked.append(line)
    return "".join(masked)


def _pem_key_masked(found: re.Match[str]) -> str:
    """A key's body as one line with a digest of it, so a new key shows as a changed line."""
    digest = hashlib.sha256(found.group(2).encode()).hexdigest()[:12]
    return f"{found.group(1)}{MASK} (sha256 {digest})\n"


def _value_masked(line: str) -> str:
    """Everything after the line's key (the first '='), or the whole line without one."""
    key, separator, _ = line.partition("=")
    masked = f"{key}{separator}{MASK}" if separator else MASK
    return masked + ("\n" if line.endswith("\n") else "")


def metadata_change(step: str, file: File | Directory, actual: RemoteFile) -> Change | None:
    """chown/chmod only where owner, group or mode differ."""
    commands = []
    if not actual.owned_by(file.owner, file.group):
        owner = f"{file.owner}:{file.group}"
        commands.append(Command(("chown", "-h", owner, file.path), f"chown {owner} {file.path}"))
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
