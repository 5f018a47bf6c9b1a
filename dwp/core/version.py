"""What a sibling holds: one version of an object's content, or a tombstone.

Small contents sit inline in ``data``; large ones are a manifest of content-addressed
chunk hashes, so no single message or row ever carries a large body.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

INLINE_MAX = 16 * 1024
CHUNK_SIZE = 64 * 1024
HASH_BYTES = 32


def content_hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


def new_hasher() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=HASH_BYTES)


@dataclass(frozen=True, slots=True)
class Version:
    """One sibling's payload. ``deps`` is the causal token part the write came with."""

    content_type: str
    size: int
    hash: bytes
    mtime: float
    data: bytes | None = None
    chunks: tuple[bytes, ...] | None = None
    deleted: bool = False
    deps: dict[int, dict[str, int]] = field(default_factory=dict)
    write_id: str = ""  # the client's id for this write, the same on every retry of it
    refs: tuple[bytes, ...] = ()  # chunks the content names besides its own (a deploy's files)

    @classmethod
    def tombstone(cls, mtime: float, deps: dict[int, dict[str, int]],
                  write_id: str = "") -> Version:
        return cls("", 0, b"", mtime, deleted=True, deps=deps, write_id=write_id)

    @property
    def named(self) -> tuple[bytes, ...]:
        """Every chunk this version keeps from collection: its body's and its refs."""
        return (*(self.chunks or ()), *self.refs)

    @property
    def etag(self) -> str:
        return f'"{self.hash.hex()}"'
