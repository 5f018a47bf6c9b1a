"""Key rules: a key is a UTF-8 path whose first segment names the site.

Validation happens once, at the edge, and every rejection names the broken rule so a
client can fix its request without guessing.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_BYTES = 1024


class InvalidKey(ValueError):
    """A key broke one of the rules; the message says which."""


def check_characters(text: str) -> str:
    """The character rules alone, for a key or a whole URL path that holds one: UTF-8
    (a lone surrogate stands for an undecodable byte) and no control characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidKey("the key is not valid UTF-8") from exc
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvalidKey(f"the key contains the control character U+{ord(ch):04X}")
    return text


def validate_key(key: str) -> str:
    if not key:
        raise InvalidKey("the key is empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"the key is longer than {MAX_KEY_BYTES} bytes")
    check_characters(key)
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKey("the key has an empty path segment (leading, trailing or '//')")
        if segment in (".", ".."):
            raise InvalidKey(f"the key has a '{segment}' path segment")
    return key


def validate_new_key(key: str) -> str:
    """A key a write creates: the rules above, and no format characters (Unicode category
    Cf: bidi controls such as U+202E, zero-width characters), which make a listing show
    another name than the key's. Reading and deleting such a key stored before this rule
    still work, so it can be removed."""
    validate_key(key)
    for ch in key:
        if unicodedata.category(ch) == "Cf":
            raise InvalidKey(f"the key contains the format character U+{ord(ch):04X} "
                             "(bidi controls and invisible characters are refused, so "
                             "a name shows as what it is)")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix may end in '/' or stop mid-segment, but must not hide bad input."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") or "x")
    return prefix


def site_of(key: str) -> str:
    return key.split("/", 1)[0]


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:
        nxt = 0xE000
    return stripped[:-1] + chr(nxt)


def folder_prefix(folder: str) -> str:
    """The key prefix of everything in ``folder``: ``garden`` and ``garden/`` both mean the
    folder ``garden/``, never ``garden2/``; an empty folder is every key."""
    name = folder.rstrip("/")
    return name + "/" if name else ""


def in_folder(key: str, folder: str) -> bool:
    """Whether a key argument naming ``folder`` covers ``key``: the key of that very name,
    or one in the folder."""
    return key == folder.rstrip("/") or key.startswith(folder_prefix(folder))
