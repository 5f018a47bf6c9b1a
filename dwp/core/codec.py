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


def encode_whole(state: State) -> bytes:
    """State and history in one blob, as anti-entropy, hand-offs and history reads send
    a key (a write's replication sends ``encode_state`` alone)."""
    if not state.history:
        return encode_state(state)
    return msgpack.packb([_vv_out(state.context), _siblings_out(state.siblings),
                          _siblings_out(state.history)], use_bin_type=True)


def decode_state(blob: bytes) -> State:
    """Either encoding above."""
    context, sibs, *rest = msgpack.unpackb(blob, raw=False)
    return KeyState(context=_vv_in(context), siblings=_siblings_in(sibs),
                    history=_siblings_in(rest[0]) if rest else ())


def encode_version(version: Version) -> bytes:
    """One kept version's body, as the store keeps it in a row of its own."""
    return msgpack.packb(_version_out(version), use_bin_type=True)


def decode_version(body: bytes) -> Version:
    return _version_in(msgpack.unpackb(body, raw=False))


def decode_siblings(blob: bytes) -> tuple[Sibling[Version], ...]:
    """A list of siblings as one blob: what stores made before kept rows hold as a key's
    history (``dwp.node.sqlite`` moves it into rows)."""
    return _siblings_in(msgpack.unpackb(blob, raw=False))


def entry_hash(key: str, blob: bytes) -> int:
    """A key state's share of its fingerprint (the key's fingerprint XORs in one share
    per kept version, ``kept_hash``); partition hashes XOR-combine the keys', so updates
    are O(1)."""
    h = hashlib.blake2b(key.encode() + b"\0" + blob, digest_size=16).digest()
    return int.from_bytes(h, "big")


def kept_hash(key: str, dot: Dot, body: bytes) -> int:
    """A kept version's share of its key's fingerprint: a function of the version alone,
    so the key's is the same however its kept set was reached, and a row that goes takes
    its share with it without its body being read."""
    head = f"{key}\0{dot.replica}\0{dot.counter}\0".encode()
    return int.from_bytes(hashlib.blake2b(b"kept\0" + head + body, digest_size=16).digest(),
                          "big")


def chunk_entry_hash(chunk: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b"chunk\0" + chunk, digest_size=16).digest(), "big")
