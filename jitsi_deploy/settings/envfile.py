"""A strict reader of `.env` and `.secrets.env`: every line is understood or it is an error.

The grammar, one setting per line (a deliberately small subset of what shells and python-dotenv
read, so that a file means the same to every reader and a typo never silently changes a value):

+ The file is UTF-8; a leading byte order mark is ignored. Lines end with LF or CRLF.
+ A blank line, or a line whose first non-blank character is ``#``, is ignored.
+ A setting is ``KEY=VALUE``, optionally preceded by ``export``. KEY is ASCII letters, digits
  and ``_``, not starting with a digit. Blanks around KEY and after ``=`` are ignored.
+ VALUE is one of:
  - empty;
  - ``'text'``: taken literally, up to the next ``'`` (which cannot be part of the value);
  - ``"text"``: taken literally except ``\\"`` (a quote) and ``\\\\`` (a backslash);
  - unquoted text up to the end of the line, trailing blanks removed. It may contain ``#``
    (``pa#ss``), but not a blank followed by ``#``: that is ambiguous (a comment, or part of a
    password?), so it is refused; quote the value or put the comment on its own line.
  After a closing quote only blanks and a ``# comment`` may follow.
+ Nothing is expanded: ``${HOME}`` or ``$1`` stay as written.
+ A quote must close on its line: values span one line only.
+ Control characters (other than a tab between words) are refused anywhere, and so is a KEY
  set twice.

Errors name ``file:line``, what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem

_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$")
_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u2028\u2029]")
_DOUBLE = re.compile(r'^"((?:[^"\\]|\\["\\])*)"\s*(#.*)?$')
_SINGLE = re.compile(r"^'([^']*)'\s*(#.*)?$")


@dataclass(frozen=True)
class EnvFile:
    """The settings of one file and the line each came from."""

    values: dict[str, str]
    lines: dict[str, int]


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """The file's text, or why it cannot be read (missing, a folder, not UTF-8)."""
    name = path.name
    if path.is_dir():
        return None, [Problem(name, "-", f"is a folder, not a file. Put the file at {path}.")]
    if not path.exists():
        return None, [Problem(name, "-", "not found.")]
    if not path.is_file():
        return None, [Problem(name, "-", f"is not a regular file. Put the file at {path}.")]
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        return None, [Problem(name, "-", f"cannot be read ({reason}). Fix its permissions.")]
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start]
        message = (
            f"byte 0x{byte:02x} is not UTF-8. Save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)."
        )
        return None, [Problem(f"{name}:{line}", "-", message)]


def split_lines(text: str) -> list[str]:
    """Lines split on LF only (a stray CR or other separator stays, to be refused)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def control_problem(source: str, key: str, value: str, tab: bool = False) -> Problem | None:
    """A Problem if ``value`` holds a control character or line break (``tab``: a tab too),
    else None."""
    found = _CONTROL.search(value) or (tab and re.search("\t", value))
    if not found:
        return None
    message = (
        f"holds the control character U+{ord(found.group()):04X}. "
        "Remove it: values are plain one-line text."
    )
    return Problem(source, key, message)


def parse_env(path: Path) -> tuple[EnvFile, list[Problem]]:
    """Read ``path`` by the grammar above; a missing file is a problem too."""
    text, problems = read_text(path)
    if text is None:
        return EnvFile({}, {}), problems
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(split_lines(text), start=1):
        source = f"{path.name}:{number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        named = _KEY.match(line)
        bad = control_problem(source, named.group(1) if named else "-", line.replace("\t", " "))
        if bad:
            problems.append(bad)
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            shown = line.strip()[:40]
            problems.append(
                Problem(source, "-", f"{shown!r} is not KEY=VALUE. Write e.g. TZ=Europe/Berlin.")
            )
            continue
        key, raw = match.groups()
        value, message = _value(raw.strip())
        if message:
            problems.append(Problem(source, key, message))
            continue
        bad = control_problem(source, key, value, tab=True)
        if bad:
            problems.append(bad)
            continue
        if key in lines:
            problems.append(
                Problem(
                    source,
                    key,
                    f"is set twice (first on line {lines[key]}). Keep one of the two lines.",
                )
            )
            continue
        values[key], lines[key] = value, number
    return EnvFile(values, lines), problems


def set_setting(path: Path, key: str, value: str) -> None:
    """Set ``key`` to ``value`` in the settings file, every other line kept as it was: the
    line that sets it is replaced (or one is added), and the file is swapped in atomically
    with its mode."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    wanted = f"{key}={value}\n"
    at = next((i for i, line in enumerate(lines) if _setting_key(line) == key), None)
    if at is None:
        lines += ([] if not lines or lines[-1].endswith("\n") else ["\n"]) + [wanted]
    else:
        lines[at] = wanted
    replace_file(path, "".join(lines), path.stat().st_mode & 0o777)


def replace_file(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` atomically, with ``mode`` from the first moment (a settings
    file may hold passwords). The temporary file is created exclusively (O_EXCL, never
    following a planted link); one left over by an interrupted run is removed first."""
    temporary = path.with_name(f".{path.name}.tmp")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _setting_key(line: str) -> str | None:
    match = _KEY.match(line)
    return match.group(1) if match else None


def _value(raw: str) -> tuple[str, str]:
    """(value, "") or ("", what is wrong with it and the fix)."""
    if raw.startswith('"'):
        match = _DOUBLE.match(raw)
        if not match:
            return "", (
                "the double quote is not closed on this line, or text follows it. "
                'Close the quote (KEY="value"); write \\" for a quote inside.'
            )
        return re.sub(r"\\([\"\\])", r"\1", match.group(1)), ""
    if raw.startswith("'"):
        match = _SINGLE.match(raw)
        if not match:
            return "", (
                "the single quote is not closed on this line, or text follows it. "
                "Close the quote (KEY='value')."
            )
        return match.group(1), ""
    if re.search(r"\s#", raw):
        return "", (
            "an unquoted value holds a blank followed by '#': is it a comment or part of the "
            "value? Quote the value (KEY='a #b'), or put the comment on a line of its own."
        )
    return raw, ""
