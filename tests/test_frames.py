"""The data socket's frames (``dwp.core.frames``): every message and reply it carries
comes back equal, refusals come back as the node's own error class, and a hostile or
broken stream (truncated, oversized, wrong types, not msgpack) is a ``FrameError``."""

from __future__ import annotations

import struct

import msgpack
import pytest

from dwp.core.errors import DwpError, NotFound, NotOwner, Partitioned, Stale
from dwp.core.frames import (
    HEADER,
    MAX_REQUEST_BYTES,
    FrameError,
    FrameReader,
    NodeFailed,
    decode_hello,
    decode_reply,
    decode_request,
    encode_failure,
    encode_hello,
    encode_reply,
    encode_request,
    frame,
)
from dwp.core.messages import (
    MAX_MESSAGE_BYTES,
    Batch,
    Delete,
    Deleted,
    Get,
    GetChunk,
    Info,
    Put,
    PutChunks,
    ReadReply,
    Written,
)
from dwp.core.transport import Unreachable
from dwp.core.version import Version, content_hash

DATA = b"<p>hello</p>" * 100
PUT = Put("site/a.html", Version("text/html", len(DATA), content_hash(DATA), 1.5, DATA,
                                 deps={3: {"n1.ab": 4}}, write_id="w1"),
          {"n1.ab": 2}, {"n2.cd": 7}, "w1")
MESSAGES = [
    PUT,
    Put("site/big", Version("application/pdf", 200_000, b"h" * 32, 2.0, None,
                            (b"c" * 32, b"d" * 32), refs=(b"r" * 32,)), None),
    Delete("site/a.html", 3.25, {1: {"n1.ab": 1}, 2: {}}, None, {}, "w2"),
    PutChunks([(b"c" * 32, b"x" * 65536)]),
    Batch([PUT, PutChunks([]), Delete("k/x", 1.0, {}, {"a": 1})]),
    Get("site/a.html", {"n1.ab": 3}, 2.0, True),
    GetChunk(b"c" * 32),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_the_socket_carries_comes_back_equal(message: object) -> None:
    body = encode_request(7, "gw", message)  # type: ignore[arg-type]
    assert decode_request(body) == (7, "gw", message)


@pytest.mark.parametrize("reply", [
    None, Written(b"state"), Deleted(b"state"), Deleted(None),
    ReadReply(True, b"s", {"n1.ab": 3}), ReadReply(False, None, {}), b"chunk",
    [Written(b"a"), Deleted(None), None],
], ids=repr)
def test_every_reply_comes_back_equal(reply: object) -> None:
    assert decode_reply(encode_reply(9, reply)) == (9, reply)


def test_refusals_come_back_as_the_nodes_own_error_class() -> None:
    for error in (NotFound("gone"), Stale("behind"), Partitioned("cut"),
                  Unreachable("down"), DwpError("plain")):
        _, back = decode_reply(encode_reply(1, error))
        assert type(back) is type(error) and str(back) == str(error)
    _, owner = decode_reply(encode_reply(1, NotOwner('{"epoch": 3}')))
    assert isinstance(owner, NotOwner) and owner.view_json == '{"epoch": 3}'
    _, batch = decode_reply(encode_reply(1, [Written(b"a"), Stale("behind")]))
    assert isinstance(batch, list) and isinstance(batch[1], Stale)

    class Private(NotFound):
        """A subclass the protocol does not list goes as its nearest listed class."""
    _, nearest = decode_reply(encode_reply(1, Private("x")))
    assert type(nearest) is NotFound
    _, failed = decode_reply(encode_failure(1, "TypeError: boom"))
    assert isinstance(failed, NodeFailed)


def test_the_reader_splits_a_stream_cut_anywhere() -> None:
    bodies = [encode_request(i, "gw", m) for i, m in enumerate(MESSAGES)]  # type: ignore[arg-type]
    stream = b"".join(frame(b) for b in bodies)
    for step in (1, 7, 4096):
        reader = FrameReader(MAX_REQUEST_BYTES)
        got = [f for i in range(0, len(stream), step) for f in reader.feed(stream[i:i + step])]
        assert got == bodies and reader.pending == 0


def test_a_truncated_frame_is_left_pending_and_a_truncated_body_refused() -> None:
    body = encode_request(1, "gw", PUT)
    reader = FrameReader(MAX_REQUEST_BYTES)
    assert reader.feed(frame(body)[:-3]) == [] and reader.pending > 0
    for cut in (1, len(body) // 2, len(body) - 1):
        with pytest.raises(FrameError):
            decode_request(body[:cut])


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    assert MAX_REQUEST_BYTES > MAX_MESSAGE_BYTES
    reader = FrameReader(MAX_REQUEST_BYTES)
    with pytest.raises(FrameError, match="over the limit"):
        reader.feed(HEADER.pack(MAX_REQUEST_BYTES + 1))
    with pytest.raises(FrameError):
        FrameReader(MAX_REQUEST_BYTES).feed(struct.pack(">I", 2**32 - 1) + b"x")


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


GOOD = msgpack.unpackb(encode_request(1, "gw", PUT), raw=False)


@pytest.mark.parametrize("value", [
    None, 5, "put", [], [1, "gw"], [1, "gw", []], ["1", "gw", GOOD[2]],
    [1, b"gw", GOOD[2]], [True, "gw", GOOD[2]],
    [1, "gw", ["put"]], [1, "gw", ["info"]], [1, "gw", ["pickle", b"\x80\x04."]],
    [1, "gw", ["put", 5, *GOOD[2][2:]]],
    [1, "gw", ["put", "k", [*GOOD[2][2][:9]], None, {}, ""]],  # a version short
    [1, "gw", ["put", "k", ["t", "10", *GOOD[2][2][2:]], None, {}, ""]],
    [1, "gw", ["put", "k", GOOD[2][2], {"n1": "2"}, {}, ""]],
    [1, "gw", ["put", "k", GOOD[2][2], None, {"n1": 1.5}, ""]],
    [1, "gw", ["delete", "k", "soon", [], None, {}, ""]],
    [1, "gw", ["delete", "k", 1.0, [[1]], None, {}, ""]],
    [1, "gw", ["chunks", [[b"c", "not bytes"]]]],
    [1, "gw", ["batch", [["batch", []]]]],  # no batch in a batch
    [1, "gw", ["batch", [["get", "k", {}, 1.0, False]]]],  # a batch holds writes only
    [1, "gw", ["get", "k", {}, True, False]],
], ids=repr)
def test_wrong_types_and_shapes_are_refused(value: object) -> None:
    with pytest.raises(FrameError):
        decode_request(pack(value))


@pytest.mark.parametrize("body", [
    b"", b"\xc1", b"\x92\x01", b"\x91" * 5000 + b"\x90",  # reserved byte, short, deep
    pack({1: 2}),  # a map with an integer key where none may be
    pack([1, "gw", GOOD[2]]) + b"trailing",
], ids=repr)
def test_what_is_not_one_msgpack_value_is_refused(body: bytes) -> None:
    with pytest.raises(FrameError):
        decode_request(body)


def test_what_the_socket_does_not_carry_is_neither_sent_nor_read() -> None:
    with pytest.raises(TypeError):
        encode_request(1, "gw", Info())  # type: ignore[arg-type]
    with pytest.raises(FrameError):
        decode_reply(pack([1, ["error", "SystemExit", "x", ""]]))
    with pytest.raises(FrameError):
        decode_reply(pack([1, ["object", "os.system"]]))
    with pytest.raises(TypeError):
        encode_reply(1, Info())


def test_the_hello_names_the_node_and_its_start() -> None:
    assert decode_hello(encode_hello("n1", "abc")) == ("n1", "abc")
    with pytest.raises(FrameError):
        decode_hello(pack(["http/1.1", "n1", "abc"]))
