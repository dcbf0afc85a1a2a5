"""The backup archive and its manifest: what fab backup writes verifies; a truncated, altered,
foreign or incomplete archive is refused (fab restore checks this before touching a host)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyrage import x25519

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.operations import crypt
from jitsi_deploy.operations.archive import (
    FORMAT,
    MANIFEST,
    MANIFEST_SUM,
    SEAL_TAG,
    VERSION,
    ArchiveError,
    archive_writer,
    verify,
    write_backup,
)
from jitsi_deploy.operations.backup import verify_file

ROOTS = ("opt/jitsi-meet", "etc/jitsi-deploy/tls")
FILES = {
    "opt/jitsi-meet/.env": b"JICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n",
    "opt/jitsi-meet/config/storage/prosody/meet%2ejitsi/accounts/alice.dat": b"return {};\n",
    "opt/jitsi-meet/uptime-kuma/kuma.db": bytes(range(256)) * 40,
    "etc/jitsi-deploy/tls/meet.example.org/selfsigned/fullchain.pem": b"-----BEGIN CERT\n",
}


def host_stream(files: dict[str, bytes] = FILES, link: bool = True) -> io.BytesIO:
    """What `tar --numeric-owner -czf -` on a host sends: folders, files owned by uid 1000,
    the certificate link nginx reads."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for root in ROOTS:
            folder = tarfile.TarInfo(root)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(content), 0o600, 1000, 1000
            tar.addfile(info, io.BytesIO(content))
        if link:
            info = tarfile.TarInfo("etc/jitsi-deploy/tls/meet.example.org/fullchain.pem")
            info.type, info.linkname = tarfile.SYMTYPE, "selfsigned/fullchain.pem"
            tar.addfile(info)
    data.seek(0)
    return data


def backup_bytes(files: dict[str, bytes] = FILES) -> bytes:
    out = io.BytesIO()
    write_backup(host_stream(files), out, "meet.example.org", ROOTS, "2026-12-04T15:00:00", 0)
    return out.getvalue()


def rewritten(archive: bytes, keep=lambda member: True, extra: dict[str, bytes] | None = None):
    """The archive's members (manifest included, unchanged) copied, some left out or added."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        archive_writer(out) as tar,
    ):
        members = source.getmembers()
        for member in members:
            if member.name in (MANIFEST, MANIFEST_SUM):
                for name, content in (extra or {}).items():
                    info = tarfile.TarInfo(name)
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
                    extra = {}
            if keep(member):
                tar.addfile(member, source.extractfile(member) if member.isfile() else None)
    return out.getvalue()


def test_a_backup_verifies_and_its_manifest_says_what_it_holds() -> None:
    manifest = verify(io.BytesIO(backup_bytes()))
    assert (manifest.format, manifest.version) == (FORMAT, VERSION)
    assert manifest.host == "meet.example.org" and manifest.roots == ROOTS
    records = {record.name: record for record in manifest.members}
    for name, content in FILES.items():
        assert records[name].sha256 == hashlib.sha256(content).hexdigest()
        assert (records[name].uid, records[name].mode) == (1000, 0o600)
    link = records["etc/jitsi-deploy/tls/meet.example.org/fullchain.pem"]
    assert (link.type, link.link) == ("symlink", "selfsigned/fullchain.pem")
    assert manifest.unpacked_bytes == sum(len(c) for c in FILES.values())


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_a_truncated_archive_is_refused(keep: float) -> None:
    archive = backup_bytes()
    with pytest.raises(ArchiveError, match="truncated"):
        verify(io.BytesIO(archive[: int(len(archive) * keep)]))


def test_every_single_flipped_byte_is_refused() -> None:
    archive = backup_bytes()
    for position in range(len(archive)):
        altered = bytearray(archive)
        altered[position] ^= 0xFF
        with pytest.raises(ArchiveError):
            verify(io.BytesIO(bytes(altered)))


def test_a_foreign_archive_is_refused() -> None:
    other_tar = host_stream().getvalue()  # a tar.gz, but not one fab backup wrote
    with pytest.raises(ArchiveError, match="not one fab backup made"):
        verify(io.BytesIO(other_tar))
    with pytest.raises(ArchiveError, match="not a fab backup"):
        verify(io.BytesIO(b"PK\x03\x04 a zip file" * 100))
    without_manifest = rewritten(
        backup_bytes(), keep=lambda m: m.name not in (MANIFEST, MANIFEST_SUM)
    )
    with pytest.raises(ArchiveError, match=r"no MANIFEST\.json"):
        verify(io.BytesIO(without_manifest))  # sealed, but by someone else


def test_a_missing_member_is_named() -> None:
    gone = "opt/jitsi-meet/uptime-kuma/kuma.db"
    archive = rewritten(backup_bytes(), keep=lambda member: member.name != gone)
    with pytest.raises(ArchiveError, match=f"missing: {gone}"):
        verify(io.BytesIO(archive))


def test_an_extra_member_is_named() -> None:
    archive = rewritten(backup_bytes(), extra={"opt/jitsi-meet/planted": b"x"})
    with pytest.raises(ArchiveError, match="not in the manifest: opt/jitsi-meet/planted"):
        verify(io.BytesIO(archive))


def test_a_member_outside_the_backed_up_paths_is_refused_from_the_host() -> None:
    with pytest.raises(ArchiveError, match="outside the backed-up paths"):
        write_backup(host_stream({"etc/passwd": b"root:x:0:0"}), io.BytesIO(), "h", ROOTS, "t", 0)


def write_encrypted(path: Path, keys: list) -> None:
    with path.open("wb") as out, crypt.encrypting(out, keys) as sink:
        write_backup(host_stream(), sink, "meet.example.org", ROOTS, "t", 0)


def test_an_archive_encrypted_to_an_age_key_verifies_only_with_that_key(tmp_path: Path) -> None:
    key = x25519.Identity.generate()
    (tmp_path / "key.txt").write_text(f"# created by age-keygen\n{key}\n")
    archive = tmp_path / "a.tar.gz.age"
    write_encrypted(archive, crypt.recipients(str(key.to_public())))
    assert crypt.is_encrypted(archive)
    manifest = verify_file(archive, crypt.identities(str(tmp_path / "key.txt")))
    assert manifest.host == "meet.example.org"

    with pytest.raises(ArchiveError, match="give --identity"):
        verify_file(archive, [])
    with pytest.raises(ArchiveError, match="decryption failed"):
        verify_file(archive, [x25519.Identity.generate()])
    altered = bytearray(archive.read_bytes())
    altered[len(altered) // 2] ^= 0x01
    archive.write_bytes(bytes(altered))
    with pytest.raises(ArchiveError, match="decryption failed"):
        verify_file(archive, crypt.identities(str(tmp_path / "key.txt")))


def test_an_archive_encrypted_to_an_ssh_key_opens_with_its_private_key(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (tmp_path / "id_ed25519").write_bytes(pem)
    (tmp_path / "id_ed25519.pub").write_bytes(public + b" operator@laptop\n")
    archive = tmp_path / "a.tar.gz.age"
    write_encrypted(archive, crypt.recipients(str(tmp_path / "id_ed25519.pub")))
    assert verify_file(archive, crypt.identities(str(tmp_path / "id_ed25519"))).members


def test_a_bad_key_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"--encrypt-to.*not an age or SSH key"):
        crypt.recipients("age1notakey")
    with pytest.raises(ConfigError, match=r"--identity.*cannot be read"):
        crypt.identities("/nonexistent/key")


def test_data_after_the_end_of_the_tar_is_refused() -> None:
    """Bytes smuggled after the tar's end marker, compressed and sealed anew."""
    plain = gzip.decompress(backup_bytes().rsplit(SEAL_TAG, 1)[0]) + b"smuggled"
    compressed = gzip.compress(plain, mtime=0)
    seal = SEAL_TAG + hashlib.sha256(compressed).hexdigest().encode() + b"\n"
    with pytest.raises(ArchiveError, match="data follows the end"):
        verify(io.BytesIO(compressed + seal))
