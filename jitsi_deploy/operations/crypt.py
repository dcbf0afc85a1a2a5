"""Optional encryption of backup archives with age (pyrage), streamed through a pipe.

Recipients are age public keys (`age1…`) or OpenSSH public keys (`ssh-ed25519 …`, `ssh-rsa
…`), so an operator can encrypt to the SSH key they already hold; restore decrypts with the
matching age identity file or unencrypted OpenSSH private key. age authenticates every 64 KiB
chunk and the end of the stream, so a flipped or missing byte fails decryption.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

import pyrage
from pyrage import ssh, x25519

from ..errors import ConfigError, Problem
from .archive import ArchiveError

AGE_MAGIC = b"age-encryption.org/v1\n"
_SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


def recipients(value: str) -> list[Any]:
    """The recipients named by ``value``: a key, or a file of keys (one a line, # comments)."""
    path = Path(value).expanduser()
    lines = path.read_text().splitlines() if path.is_file() else [value]
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    found, problems = [], []
    for key in keys:
        try:
            found.append(_recipient(key))
        except (pyrage.RecipientError, ValueError) as error:
            problems.append(Problem("--encrypt-to", key[:40], f"not an age or SSH key: {error}"))
    if not found and not problems:
        problems.append(Problem("--encrypt-to", value, "names no key."))
    if problems:
        raise ConfigError(problems)
    return found


def _recipient(key: str) -> Any:
    if key.startswith(_SSH_KEY_TYPES):
        return ssh.Recipient.from_str(" ".join(key.split()[:2]))
    if key.startswith("age1"):
        return x25519.Recipient.from_str(key)
    raise ValueError("expected age1… or ssh-ed25519/ssh-rsa …")


def identities(value: str) -> list[Any]:
    """The private keys in file ``value``: age identities (AGE-SECRET-KEY-…) or an OpenSSH key."""
    path = Path(value).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError([Problem("--identity", value, f"cannot be read: {error}")]) from None
    try:
        if b"PRIVATE KEY" in data:
            return [ssh.Identity.from_buffer(data)]
        keys = [
            line.strip()
            for line in data.decode().splitlines()
            if line.strip().startswith("AGE-SECRET-KEY-")
        ]
        if keys:
            return [x25519.Identity.from_str(key) for key in keys]
        message = "holds no AGE-SECRET-KEY- line and no OpenSSH private key."
    except (pyrage.IdentityError, ValueError) as error:
        message = f"is not a usable key (a passphrase-protected SSH key cannot be used): {error}"
    raise ConfigError([Problem("--identity", value, message)])


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(AGE_MAGIC)) == AGE_MAGIC


class _Pump:
    """Runs one pyrage call in a thread, one end of an OS pipe in its hands."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # handed to the caller's thread by join()
            self.error = error

    def join(self) -> None:
        self.thread.join()


@contextmanager
def encrypting(out: BinaryIO, keys: list[Any]) -> Iterator[IO[bytes]]:
    """A writable stream whose bytes land in ``out`` encrypted to ``keys``."""
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as plain:
        pump = _Pump(lambda: pyrage.encrypt_io(plain, out, keys))
        try:
            with open(write_end, "wb") as sink:
                yield sink
        finally:
            pump.join()
    if pump.error:
        raise ArchiveError(f"encryption failed: {pump.error}")


@contextmanager
def decrypting(source: BinaryIO, keys: list[Any]) -> Iterator[IO[bytes]]:
    """A readable stream of ``source`` decrypted with ``keys``.

    A wrong key or an altered byte ends the stream early; leaving the block then raises
    DecryptError, which the caller reports instead of the truncation its reader saw.
    """
    read_end, write_end = os.pipe()
    sink = open(write_end, "wb")  # noqa: SIM115 - closed by the thread when it is done

    def work() -> None:
        with sink:
            pyrage.decrypt_io(source, sink, keys)

    pump = _Pump(work)
    plain = open(read_end, "rb")  # noqa: SIM115 - closed below, before the thread is joined
    try:
        yield plain
    except Exception:
        plain.close()  # unblocks a thread still writing
        pump.join()
        if pump.error:
            raise DecryptError(pump.error) from None
        raise
    plain.close()
    pump.join()
    if pump.error:
        raise DecryptError(pump.error)


class DecryptError(ArchiveError):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(
            "decryption failed: the key does not match, or the archive was altered or cut "
            f"short ({cause})"
        )
