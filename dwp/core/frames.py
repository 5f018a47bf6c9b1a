"""The data socket's wire format: length-prefixed msgpack frames, no I/O.

A storage node serves the gateway's writes (and reads) on a unix socket of its own
(``dwp.node.data_socket``); this module turns those messages and their replies into frames
and back. Nothing else crosses the socket and nothing is unpickled: a frame holds plain
msgpack values, checked type by type, so a hostile or broken peer gets ``FrameError``,
never code run or a half-built message. Refusals travel as the name of a ``DwpError``
class from a fixed list and its text, and come back as that class.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import msgpack

from dwp.core.errors import (
    ChangeFailed,
    ChangeRefused,
    DwpError,
    NotFound,
    NotOwner,
    Partitioned,
    Stale,
    Unavailable,
    WrongReplica,
)
from dwp.core.messages import (
    MAX_MESSAGE_BYTES,
    Batch,
    Delete,
    Deleted,
    Get,
    GetChunk,
    Put,
    PutChunks,
    ReadReply,
    Write,
    Written,
)
from dwp.core.transport import Unreachable
from dwp.core.version import Version

HEADER = struct.Struct(">I")
# A request over this goes over Ray instead; a frame that says it is longer is refused.
MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES + 32 * 1024
# Replies come from the node this process chose to trust; the bound only caps memory.
MAX_REPLY_BYTES = 64 * 2**20
HELLO = "dwp-data-socket/1"
ERRORS: dict[str, type[DwpError]] = {cls.__name__: cls for cls in (
    DwpError, Unavailable, Stale, WrongReplica, Partitioned, NotFound, NotOwner,
    ChangeFailed, ChangeRefused, Unreachable)}
Carried = Put | Delete | PutChunks | Batch | Get | GetChunk
CARRIED = (Put, Delete, PutChunks, Batch, Get, GetChunk)  # what the socket carries


class FrameError(ValueError):
    """A frame that is not one this protocol sends: too long, cut short, or malformed."""


class NodeFailed(Exception):
    """The node failed on a request with an error that is no refusal (over Ray, a task
    error); the client treats the node as unreachable for that call."""


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Splits a byte stream into frame bodies, refusing any frame over ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > self.limit:
                raise FrameError(f"a frame of {size} bytes is over the limit of {self.limit}")
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append(bytes(self._buf[HEADER.size:end]))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete: at the stream's end, a truncated frame."""
        return len(self._buf)


# -- values, checked -------------------------------------------------------------------

def _pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False)
    except Exception as exc:  # msgpack raises several kinds for a bad buffer
        raise FrameError(f"not a msgpack value: {type(exc).__name__}") from None


def _str(x: object) -> str:
    if not isinstance(x, str):
        raise FrameError(f"expected a string, got {type(x).__name__}")
    return x


def _bytes(x: object) -> bytes:
    if not isinstance(x, bytes):
        raise FrameError(f"expected bytes, got {type(x).__name__}")
    return x


def _int(x: object) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise FrameError(f"expected an integer, got {type(x).__name__}")
    return x


def _float(x: object) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise FrameError(f"expected a number, got {type(x).__name__}")
    return float(x)


def _bool(x: object) -> bool:
    if not isinstance(x, bool):
        raise FrameError(f"expected a boolean, got {type(x).__name__}")
    return x


def _list(x: object, size: int | None = None) -> list[Any]:
    if not isinstance(x, list) or (size is not None and len(x) != size):
        raise FrameError(f"expected a list of {size if size is not None else 'any'} "
                         f"items, got {type(x).__name__}")
    return x


def _optional(x: object, check: Callable[[object], Any]) -> Any:
    return None if x is None else check(x)


def _vv(x: object) -> dict[str, int]:
    if not isinstance(x, dict):
        raise FrameError(f"expected a map, got {type(x).__name__}")
    return {_str(k): _int(v) for k, v in x.items()}


def _causal_out(causal: dict[int, dict[str, int]]) -> list[list[object]]:
    return [[shard, vv] for shard, vv in causal.items()]


def _causal_in(x: object) -> dict[int, dict[str, int]]:
    return {_int(shard): _vv(vv) for shard, vv in (_list(row, 2) for row in _list(x))}


def _version_out(v: Version) -> list[object]:
    return [v.content_type, v.size, v.hash, v.mtime, v.data,
            list(v.chunks) if v.chunks is not None else None, v.deleted,
            _causal_out(v.deps), v.write_id, list(v.refs)]


def _version_in(x: object) -> Version:
    ct, size, h, mtime, data, chunks, deleted, deps, write_id, refs = _list(x, 10)
    return Version(_str(ct), _int(size), _bytes(h), _float(mtime), _optional(data, _bytes),
                   None if chunks is None else tuple(_bytes(c) for c in _list(chunks)),
                   _bool(deleted), _causal_in(deps), _str(write_id),
                   tuple(_bytes(r) for r in _list(refs)))


# -- requests --------------------------------------------------------------------------

def _message_out(m: Carried) -> list[object]:
    if isinstance(m, Put):
        return ["put", m.key, _version_out(m.version), m.context, m.need, m.write_id]
    if isinstance(m, Delete):
        return ["delete", m.key, m.mtime, _causal_out(m.deps), m.context, m.need, m.write_id]
    if isinstance(m, PutChunks):
        return ["chunks", [[c, d] for c, d in m.chunks]]
    if isinstance(m, Batch):
        return ["batch", [_message_out(w) for w in m.writes]]
    if isinstance(m, Get):
        return ["get", m.key, m.need, m.wait, m.history]
    if isinstance(m, GetChunk):
        return ["chunk", m.chunk]
    raise TypeError(f"the data socket does not carry {type(m).__name__}")


def _write_in(kind: object, f: list[Any]) -> Write | None:
    """The write ``kind`` names with fields ``f``; None if it names no write."""
    if kind == "put" and len(f) == 5:
        return Put(_str(f[0]), _version_in(f[1]), _optional(f[2], _vv), _vv(f[3]), _str(f[4]))
    if kind == "delete" and len(f) == 6:
        return Delete(_str(f[0]), _float(f[1]), _causal_in(f[2]), _optional(f[3], _vv),
                      _vv(f[4]), _str(f[5]))
    if kind == "chunks" and len(f) == 1:
        return PutChunks([(_bytes(c), _bytes(d)) for c, d in
                          (_list(pair, 2) for pair in _list(f[0]))])
    return None


def _kind(x: object) -> tuple[object, list[Any]]:
    row = _list(x)
    if not row:
        raise FrameError("an empty message")
    return row[0], row[1:]


def _batched(x: object) -> Write:
    kind, f = _kind(x)
    write = _write_in(kind, f)
    if write is None:
        raise FrameError(f"a batch holds only writes, not {str(kind)[:40]!r}")
    return write


def _message_in(x: object) -> Carried:
    kind, f = _kind(x)
    write = _write_in(kind, f)
    if write is not None:
        return write
    if kind == "batch" and len(f) == 1:
        return Batch([_batched(w) for w in _list(f[0])])
    if kind == "get" and len(f) == 4:
        return Get(_str(f[0]), _vv(f[1]), _float(f[2]), _bool(f[3]))
    if kind == "chunk" and len(f) == 1:
        return GetChunk(_bytes(f[0]))
    raise FrameError(f"not a message the data socket carries: {str(kind)[:40]!r}")


def encode_request(request_id: int, sender: str, message: Carried) -> bytes:
    """A request's frame body: its id (replies may come back in any order), who sends
    it (as a Ray call names it) and the message."""
    return _pack([request_id, sender, _message_out(message)])


def decode_request(body: bytes) -> tuple[int, str, Carried]:
    request_id, sender, message = _list(_unpack(body), 3)
    return _int(request_id), _str(sender), _message_in(message)


# -- replies ---------------------------------------------------------------------------

def _error_out(exc: DwpError) -> list[object]:
    name = next(c.__name__ for c in type(exc).__mro__ if ERRORS.get(c.__name__) is c)
    return ["error", name, str(exc), exc.view_json if isinstance(exc, NotOwner) else ""]


def _error_in(f: list[Any]) -> DwpError:
    name, text, view_json = (_str(x) for x in f)
    cls = ERRORS.get(name)
    if cls is None:
        raise FrameError(f"not an error this protocol sends: {name[:40]!r}")
    return NotOwner(view_json) if cls is NotOwner else cls(text)


def _reply_out(reply: object) -> list[object]:
    if reply is None:
        return ["none"]
    if isinstance(reply, Written):
        return ["written", reply.state]
    if isinstance(reply, Deleted):
        return ["deleted", reply.state]
    if isinstance(reply, ReadReply):
        return ["read", reply.fresh, reply.state, reply.applied]
    if isinstance(reply, bytes):
        return ["bytes", reply]
    if isinstance(reply, DwpError):
        return _error_out(reply)
    if isinstance(reply, list):
        return ["list", [_reply_out(one) for one in reply]]
    raise TypeError(f"no frame for a reply of type {type(reply).__name__}")


def _reply_in(x: object) -> object:
    row = _list(x)
    if not row:
        raise FrameError("an empty reply")
    kind, *f = row
    if kind == "none" and not f:
        return None
    if kind == "written" and len(f) == 1:
        return Written(_bytes(f[0]))
    if kind == "deleted" and len(f) == 1:
        return Deleted(_optional(f[0], _bytes))
    if kind == "read" and len(f) == 3:
        return ReadReply(_bool(f[0]), _optional(f[1], _bytes), _vv(f[2]))
    if kind == "bytes" and len(f) == 1:
        return _bytes(f[0])
    if kind == "error" and len(f) == 3:
        return _error_in(f)
    if kind == "list" and len(f) == 1:
        return [_reply_in(one) for one in _list(f[0])]
    raise FrameError(f"not a reply the data socket carries: {str(kind)[:40]!r}")


def encode_reply(request_id: int, reply: object) -> bytes:
    """The reply to a request: the message's answer, or the ``DwpError`` refusing it."""
    return _pack([request_id, _reply_out(reply)])


def encode_failure(request_id: int, text: str) -> bytes:
    """A failure that is no refusal (``NodeFailed`` on the client)."""
    return _pack([request_id, ["failed", text]])


def decode_reply(body: bytes) -> tuple[int, object]:
    """The request's id and its answer: a value, a ``DwpError`` (a refusal, to raise),
    or ``NodeFailed``."""
    request_id, reply = _list(_unpack(body), 2)
    row = _list(reply)
    if len(row) == 2 and row[0] == "failed":
        return _int(request_id), NodeFailed(_str(row[1]))
    return _int(request_id), _reply_in(reply)


def encode_hello(node_id: str, nonce: str) -> bytes:
    """The server's first frame: which node and which start of it answers."""
    return _pack([HELLO, node_id, nonce])


def decode_hello(body: bytes) -> tuple[str, str]:
    tag, node_id, nonce = _list(_unpack(body), 3)
    if tag != HELLO:
        raise FrameError("not a dwp data socket")
    return _str(node_id), _str(nonce)
