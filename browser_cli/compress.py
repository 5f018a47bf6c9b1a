"""``dwp publish --compress``: ``x.gz`` and ``x.br`` beside each text file ``x``, which
the gateway sends to a client that accepts the coding (docs/web.md, *Compression*).

Which files are text is the standard library's type table (``mimetypes``). A sibling is
made for a file of at least ``MIN_SIZE`` bytes, kept only when it is smaller than the
file, and never replaces a sibling the folder holds itself. Both are deterministic
(gzip without a name or time), so an unchanged file makes an unchanged sibling and a
republish skips it. The gateway ignores a sibling older than its file, so siblings are
uploaded after their files, and again whenever their file is.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import brotli

from dwp.core.version import new_hasher

MIN_SIZE = 1024  # below this a compressed answer saves less than a packet
PIECE = 1 << 20
# Types the mimetypes table names under application/ that are text all the same.
TEXT_APPLICATION = frozenset({"application/json", "application/javascript",
                              "application/xml", "application/wasm",
                              "application/x-javascript", "application/manifest+json"})


class Sink(Protocol):
    def write(self, data: bytes) -> Any: ...


def _gzip(out: Sink) -> tuple[Callable[[bytes], None], Callable[[], None]]:
    packer = gzip.GzipFile(filename="", mode="wb", compresslevel=9, mtime=0,
                           fileobj=out)  # type: ignore[call-overload]
    return packer.write, packer.close


def _brotli(out: Sink) -> tuple[Callable[[bytes], None], Callable[[], None]]:
    packer = brotli.Compressor(quality=11)
    return (lambda data: out.write(packer.process(data))), (
        lambda: out.write(packer.finish()))


CODECS = {".gz": _gzip, ".br": _brotli}


def is_text(name: str) -> bool:
    """A type worth compressing, by the name's suffix; an already encoded file is not."""
    kind, encoding = mimetypes.guess_type(name)
    if encoding is not None or kind is None:
        return False
    return kind.startswith("text/") or kind in TEXT_APPLICATION or kind.endswith(
        ("+xml", "+json"))


class _Hashing:
    """A file that hashes and counts what is written to it."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        self.hasher = new_hasher()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.file.write(data)


def compress_file(source: Path, target: Path, suffix: str) -> tuple[int, str]:
    """Write ``source`` compressed with the codec of ``suffix``; (size, content hash)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    out = _Hashing(target)
    try:
        write, finish = CODECS[suffix](out)
        with source.open("rb") as f:
            while piece := f.read(PIECE):
                write(piece)
        finish()
    finally:
        out.file.close()
    return out.size, out.hasher.hexdigest()


def siblings_of(files: list[Any], workdir: Path) -> list[Any]:
    """The siblings to publish beside ``files`` (``publish.LocalFile``s), written under
    ``workdir``."""
    have = {f.rel for f in files}
    made = []
    for f in files:
        if f.size < MIN_SIZE or not is_text(f.rel):
            continue
        for suffix in CODECS:
            if f.rel + suffix in have:
                continue
            target = workdir / (f.rel + suffix)
            size, digest = compress_file(f.path, target, suffix)
            if size >= f.size:
                os.unlink(target)
                continue
            made.append(replace(f, path=target, rel=f.rel + suffix, key=f.key + suffix,
                                size=size, hash=digest))
    return made


def is_sibling_of(key: str, keys: set[str]) -> bool:
    return any(key.endswith(s) and key.removesuffix(s) in keys for s in CODECS)


def after_their_files(upload: list[Any]) -> tuple[list[Any], list[Any]]:
    """``upload`` split into what goes first and the siblings of files in it, which go
    after them (the gateway sends a sibling only if it is not older than its file)."""
    keys = {f.key for f in upload}
    return ([f for f in upload if not is_sibling_of(f.key, keys)],
            [f for f in upload if is_sibling_of(f.key, keys)])
