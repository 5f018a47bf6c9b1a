"""Canonical binary encoding of key states (msgpack).

Equal states encode to equal bytes on every replica, so a hash of the encoding is a
fair fingerprint for anti-entropy. Maps are written as sorted pair lists for that reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import msgpack

from dwp.core.clock import Dot, KeyState, Sibling
from dwp.core.version import Version

State = KeyState[Version]
Causal = dict[int, dict[str, int]]


def _vv_out(vv: Mapping[str, int]) -> list[list[object]]:
    return [[r, c] for r, c in sorted(vv.items())]


def _vv_in(pairs: list[list[object]]) -> dict[str, int]:
    return {str(r): int(c) for r, c in pairs}  # type: ignore[call-overload]


def causal_out(causal: Causal) -> list[list[object]]:
    return [[shard, _vv_out(vv)] for shard, vv in sorted(causal.items()) if vv]


def causal_in(rows: list[list[object]]) -> Causal:
    return {int(shard): _vv_in(vv) for shard, vv in rows}  # type: ignore[call-overload, arg-type]


def _version_out(v: Version) -> list[object]:
    row = [v.content_type, v.size, v.hash, v.mtime, v.data,
           list(v.chunks) if v.chunks is not None else None, v.deleted, causal_out(v.deps),
           v.write_id]
    if v.refs:  # absent when empty, so versions without refs encode as they always did
        row.append(list(v.refs))
    return row


def _version_in(row: list[object]) -> Version:
    ct, size, h, mtime, data, chunks, deleted, deps, *rest = row
    return Version(ct, size, h, mtime, data,  # type: ignore[arg-type]
                   tuple(chunks) if chunks is not None else None,  # type: ignore[arg-type]
                   bool(deleted), causal_in(deps),  # type: ignore[arg-type]
                   str(rest[0]) if rest else "",
                   tuple(rest[1]) if len(rest) > 1 else ())  # type: ignore[arg-type]


def _siblings_out(siblings: tuple[Sibling[Version], ...]) -> list[list[object]]:
    return [[s.dot.replica, s.dot.counter, _version_out(s.value)] for s in siblings]


def _siblings_in(rows: list[list[object]]) -> tuple[Sibling[Version], ...]:
    return tuple(Sibling(Dot(r, c), _version_in(v)) for r, c, v in rows)  # type: ignore[arg-type]


def encode_state(state: State) -> bytes:
    """The state as reads and writes answer it: context and current siblings only."""
    return msgpack.packb([_vv_out(state.context), _siblings_out(state.siblings)],
                         use_bin_type=True)


def encode_history(state: State) -> bytes | None:
    """The superseded versions a replica keeps beside the state (None: none kept)."""
    if not state.history:
        return None
    return msgpack.packb(_siblings_out(state.history), use_bin_type=True)


def encode_whole(state: State) -> bytes:
    """State and history in one blob, as anti-entropy, hand-offs and history reads send
    a key (a write's replication sends ``encode_state`` alone)."""
    if not state.history:
        return encode_state(state)
    return msgpack.packb([_vv_out(state.context), _siblings_out(state.siblings),
                          _siblings_out(state.history)], use_bin_type=True)


def decode_state(blob: bytes, history: bytes | None = None) -> State:
    """Either encoding above; ``history`` is a blob from ``encode_history``."""
    context, sibs, *rest = msgpack.unpackb(blob, raw=False)
    hist = rest[0] if rest else (msgpack.unpackb(history, raw=False) if history else [])
    return KeyState(context=_vv_in(context), siblings=_siblings_in(sibs),
                    history=_siblings_in(hist))


def entry_hash(key: str, blob: bytes, history: bytes | None = None) -> int:
    """A key's fingerprint in its partition's hash (XOR-combined, so updates are O(1))."""
    tail = b"\0" + history if history else b""
    h = hashlib.blake2b(key.encode() + b"\0" + blob + tail, digest_size=16).digest()
    return int.from_bytes(h, "big")


def chunk_entry_hash(chunk: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b"chunk\0" + chunk, digest_size=16).digest(), "big")
