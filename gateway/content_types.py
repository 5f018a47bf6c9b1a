"""The one place that decides a stored object's Content-Type, for every upload path: the
object API (and so the CLI), the UI's uploads and editor, and zips.

A type the client states is kept. A client that states none, or only the form encoding
that tools such as curl send by default, gets the type guessed from the key's name with
the standard library's table. A compressed file (``notes.html.gz``) is stored and served
as the compressed bytes, so its type is the compression's (``application/gzip``), never
the type of what is inside: a browser would otherwise show the raw bytes as a page.
"""

from __future__ import annotations

import mimetypes

from gateway.errors import ApiError

UNKNOWN = "application/octet-stream"
MAX_LENGTH = 255
# What a client sends when it did not mean to state a type: curl --data-binary's default.
NOT_A_TYPE = {"", "application/x-www-form-urlencoded"}

# The registered type of gzip (RFC 6713), so the answer does not depend on whether this
# machine has a system mime.types file.
mimetypes.add_type("application/gzip", ".gz")


def guess(key: str) -> str:
    """The type of the key's last segment, by its suffix."""
    name = key.rsplit("/", 1)[-1]
    kind, encoding = mimetypes.guess_type(name)
    if encoding is None:
        return kind or UNKNOWN
    suffix = next(s for s, e in mimetypes.encodings_map.items() if e == encoding)
    return mimetypes.types_map.get(suffix) or UNKNOWN


def is_acceptable(content_type: str) -> bool:
    """What a Content-Type header can hold: printable ASCII, at most ``MAX_LENGTH``."""
    return len(content_type) <= MAX_LENGTH and all(" " <= c <= "~" for c in content_type)


def content_type_for(key: str, given: str | None) -> str:
    """``given`` when it is a real type, else the guess from the key; 400 for a type that
    cannot be stored and sent back as a header."""
    stated = (given or "").strip()
    if stated.split(";", 1)[0].strip().lower() in NOT_A_TYPE:
        return guess(key)
    if not is_acceptable(stated):
        raise ApiError(400, "bad request", "the Content-Type is not acceptable: printable "
                       f"ASCII only (no control or non-ASCII characters), at most "
                       f"{MAX_LENGTH} characters")
    return stated


def served(content_type: str) -> str:
    """The type to answer with for a stored one: a type stored before the rule above
    (which no header can carry) is sent as plain bytes rather than failing the read."""
    return content_type if is_acceptable(content_type) else UNKNOWN
