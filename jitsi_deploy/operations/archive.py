"""The backup archive: a gzip-compressed tar of a host's paths with a checksum manifest.

Layout: the host's files under their paths without the leading '/' (`opt/jitsi-meet/.env`),
then `MANIFEST.json` (format, version, host, time, the backed-up roots and one record per
member: type, size, sha256, mode, owner) and `MANIFEST.json.sha256` (the manifest's own
checksum). The manifest comes last because the archive is written as it streams from the
host: nothing is staged, neither on the host nor here. After the gzip stream, a one-line seal
holds the sha256 of every byte before it.

Verification reads the whole archive before anything is restored: the seal must match, every
member's record must equal the manifest's, nothing may be missing or extra. A truncated,
altered or foreign archive raises ArchiveError.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from ..errors import DeployError

FORMAT = "jitsi-deploy-backup"
VERSION = 1
MANIFEST = "MANIFEST.json"
MANIFEST_SUM = "MANIFEST.json.sha256"
GZIP_MAGIC = b"\x1f\x8b"
# After the gzip stream: the sha256 of every byte before it. gzip's CRC alone lets some altered
# bytes through (in a block's Huffman tables a changed length can decode to the same data).
SEAL_TAG = b"\njitsi-deploy-backup sha256 "
SEAL_CHUNK = 16 * 1024
MANIFEST_LIMIT = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class ArchiveError(DeployError):
    """The archive is not a complete, unaltered backup made by this project."""


@dataclass(frozen=True)
class Record:
    """What the manifest holds for one member; links carry their target, files their sha256."""

    name: str
    type: str
    size: int
    sha256: str
    link: str
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Manifest:
    host: str
    created: str
    roots: tuple[str, ...]
    members: tuple[Record, ...]
    format: str = FORMAT
    version: int = VERSION

    def to_json(self) -> bytes:
        data = asdict(self)
        data["members"] = [asdict(record) for record in self.members]
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @property
    def unpacked_bytes(self) -> int:
        return sum(record.size for record in self.members)


_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
}


class _Hashing:
    """A reader that hashes what passes through it (tarfile.addfile reads member.size bytes)."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data


def member_name_problem(name: str, roots: tuple[str, ...]) -> str:
    """Why ``name`` may not be in an archive of ``roots`` ("" when it may)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name != str(path):
        return f"{name!r} is not a plain relative path"
    if not any(
        path == PurePosixPath(root) or PurePosixPath(root) in path.parents for root in roots
    ):
        return f"{name!r} is outside the backed-up paths {', '.join(roots)}"
    return ""


def _record(member: tarfile.TarInfo, digest: str) -> Record:
    kind = _TYPES.get(member.type)
    if kind is None:
        raise ArchiveError(
            f"{member.name}: a {member.type!r} member; only files, folders and links"
        )
    return Record(
        member.name,
        kind,
        member.size if kind == "file" else 0,
        digest,
        member.linkname if kind in ("symlink", "hardlink") else "",
        member.mode,
        member.uid,
        member.gid,
    )


def _copy_member(
    incoming: tarfile.TarFile, member: tarfile.TarInfo, outgoing: tarfile.TarFile | None
) -> Record:
    """Hash one member's data while copying it to ``outgoing`` (or only hash it)."""
    digest = ""
    if member.isfile():
        source = incoming.extractfile(member)
        assert source is not None  # a regular file always has data
        hashing = _Hashing(source)
        if outgoing is not None:
            outgoing.addfile(member, hashing)
        else:
            while hashing.read(CHUNK):
                pass
        digest = hashing.digest.hexdigest()
    elif outgoing is not None:
        outgoing.addfile(member)
    return _record(member, digest)


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here."""


@contextmanager
def archive_writer(out: BinaryIO, sealed: bool = True) -> Iterator[tarfile.TarFile]:
    """A gzip-compressed tar stream into ``out``; ``sealed``: then the seal, written only when
    the block ends without an error (a stream sent to a host's tar has none)."""
    hashing = _HashingWriter(out)
    with (
        gzip.GzipFile(filename="", fileobj=hashing, mode="wb", mtime=0) as gz,  # type: ignore[arg-type]
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        yield tar
    if sealed:
        out.write(_seal(hashing.digest.hexdigest()))


def _seal(hexdigest: str) -> bytes:
    return SEAL_TAG + hexdigest.encode() + b"\n"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, mtime
    tar.addfile(info, io.BytesIO(data))


def write_backup(
    source: BinaryIO, out: BinaryIO, host: str, roots: tuple[str, ...], created: str, mtime: float
) -> Manifest:
    """Copy the host's tar.gz stream ``source`` into ``out`` member by member, hashing each,
    then append the manifest and its checksum."""
    records = []
    try:
        with tarfile.open(fileobj=source, mode="r|gz") as incoming, archive_writer(out) as tar:
            for member in incoming:
                problem = member_name_problem(member.name, roots)
                if problem:
                    raise ArchiveError(f"the host sent {problem}")
                records.append(_copy_member(incoming, member, tar))
            manifest = Manifest(host, created, roots, tuple(records))
            data = manifest.to_json()
            _add_bytes(tar, MANIFEST, data, mtime)
            _add_bytes(tar, MANIFEST_SUM, _sum_line(data), mtime)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(
            f"the host's stream broke off or is not a tar archive: {error}"
        ) from None
    return manifest


def _sum_line(data: bytes) -> bytes:
    return f"{hashlib.sha256(data).hexdigest()}  {MANIFEST}\n".encode()


class _SealedReader:
    """Decompresses a sealed archive while hashing the compressed bytes; ``check_seal`` at the
    end compares the seal that follows the gzip stream with that hash."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.inflate = zlib.decompressobj(wbits=31)  # gzip: header, CRC and length checked
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.started = False

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.buffer) < size) and not self.inflate.eof:
            chunk = self.source.read(SEAL_CHUNK)
            if not self.started:
                self.started = True
                if chunk[:2] != GZIP_MAGIC:
                    raise ArchiveError("it is not a fab backup archive (it is no gzip stream)")
            if not chunk:
                raise EOFError("the archive ends inside its compressed data")
            self.buffer += self.inflate.decompress(chunk)
            used = len(chunk) - len(self.inflate.unused_data)
            self.digest.update(chunk[:used])
        size = len(self.buffer) if size < 0 else min(size, len(self.buffer))
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def check_seal(self) -> None:
        while chunk := self.read(SEAL_CHUNK):  # the tar's zero padding, nothing else
            if chunk.strip(b"\0"):
                raise ArchiveError("data follows the end of the tar archive")
        rest = self.inflate.unused_data + self.source.read(len(SEAL_TAG) + 66)
        if not rest.startswith(SEAL_TAG):
            raise ArchiveError(
                "no fab backup seal at its end: the archive is truncated, or not one fab "
                "backup made"
            )
        expected = _seal(self.digest.hexdigest())
        if len(rest) < len(expected):
            raise ArchiveError("the archive is truncated: its seal is cut short")
        if rest != expected:
            raise ArchiveError("the archive's bytes do not match its seal: it was altered")


def verify(source: BinaryIO, outgoing: tarfile.TarFile | None = None) -> Manifest:
    """Read a whole archive and check it against its seal and manifest; return the manifest.

    With ``outgoing``, the data members are copied there as they are checked (restore sends
    them to the host this way); the caller must not finish ``outgoing`` when this raises.
    """
    reader = _SealedReader(source)
    try:
        records, manifest_bytes, manifest_sum = _read_members(reader, outgoing)
        reader.check_seal()
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ArchiveError(f"the archive is truncated or damaged: {error}") from None
    manifest = _parse_manifest(manifest_bytes, manifest_sum)
    _compare(manifest, records)
    return manifest


def _read_members(
    gz: _SealedReader, outgoing: tarfile.TarFile | None
) -> tuple[list[Record], bytes | None, bytes | None]:
    records: list[Record] = []
    manifest_bytes = manifest_sum = None
    with tarfile.open(fileobj=gz, mode="r|") as incoming:  # type: ignore[call-overload]
        for member in incoming:
            if manifest_sum is not None:
                raise ArchiveError(f"{member.name!r} follows the manifest's checksum")
            if member.name in (MANIFEST, MANIFEST_SUM):
                data = _small(incoming, member)
                if member.name == MANIFEST:
                    manifest_bytes = data
                else:
                    manifest_sum = data
                continue
            if manifest_bytes is not None:
                raise ArchiveError(f"{member.name!r} follows the manifest")
            records.append(_copy_member(incoming, member, outgoing))
    return records, manifest_bytes, manifest_sum


def _small(incoming: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = incoming.extractfile(member) if member.isfile() else None
    if source is None or member.size > MANIFEST_LIMIT:
        raise ArchiveError(f"{member.name} is not a manifest this project writes")
    return source.read()


def _parse_manifest(data: bytes | None, checksum: bytes | None) -> Manifest:
    if data is None or checksum is None:
        raise ArchiveError(
            f"no {MANIFEST if data is None else MANIFEST_SUM} at its end: the archive is "
            "truncated, or not one fab backup made"
        )
    if checksum != _sum_line(data):
        raise ArchiveError(f"{MANIFEST} does not match its checksum: the manifest was altered")
    try:
        raw = json.loads(data)
        if raw.get("format") != FORMAT:
            raise ArchiveError(f"{MANIFEST} is not a {FORMAT} manifest")
        if raw.get("version") != VERSION:
            raise ArchiveError(
                f"format version {raw.get('version')!r}; this jitsi-deploy reads {VERSION}"
            )
        records = tuple(Record(**record) for record in raw.pop("members"))
        raw["roots"] = tuple(raw["roots"])
        return Manifest(**raw, members=records)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ArchiveError(f"{MANIFEST} cannot be read: {error}") from None


def _compare(manifest: Manifest, found: list[Record]) -> None:
    """Every member as recorded, none missing, none extra, none outside the roots."""
    wanted = {record.name: record for record in manifest.members}
    present = {record.name: record for record in found}
    problems = [f"missing: {name}" for name in wanted if name not in present]
    problems += [f"not in the manifest: {name}" for name in present if name not in wanted]
    problems += [
        f"changed: {name} ({_difference(wanted[name], record)})"
        for name, record in present.items()
        if name in wanted and wanted[name] != record
    ]
    problems += [p for name in wanted if (p := member_name_problem(name, manifest.roots))]
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ArchiveError(f"the archive does not match its manifest:\n  {shown}{more}")


def _difference(wanted: Record, found: Record) -> str:
    fields = [key for key, value in asdict(wanted).items() if asdict(found)[key] != value]
    return ", ".join(fields)
