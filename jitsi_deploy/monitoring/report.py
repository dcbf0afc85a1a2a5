"""What a Kuma converge is given (the admin, how long to wait) and what it did: plain data, so
a deploy that does not talk to Kuma (a no-op) never loads the client (kuma.py, socket.io)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Admin:
    """Kuma's admin account: created on the first run, logged in with on every run."""

    username: str
    password: str


@dataclass(frozen=True)
class Retry:
    """How long to wait for Kuma: ``attempts`` tries, the pause doubling up to ``max_delay``."""

    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 15.0

    def delay(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass
class Report:
    """What a converge did, by name. ``complete``: nothing was left undone. ``settled``: nor
    can a later run do better; only then may the caller record the wanted hash and skip Kuma's
    API while it stays the same."""

    created: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    signed_in: bool = False  # the admin exists and its password works (the site may open)
    refused: bool = False  # Kuma has an admin, not ours: someone else may hold the status site

    @property
    def complete(self) -> bool:
        return not self.warnings

    @property
    def settled(self) -> bool:
        """Complete, and no fallback stands in for a type that an upgraded Kuma may have."""
        return self.complete and not self.fallbacks

    @property
    def changed(self) -> bool:
        return bool(self.created or self.edited or self.deleted)

    def record(self, bucket: list[str], name: str) -> None:
        """Note ``name`` once, even when a retried attempt meets it again."""
        if name not in bucket:
            bucket.append(name)
