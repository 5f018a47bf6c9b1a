"""Single byte ranges (RFC 9110 section 14), the form browsers and media players send.

A multi-range, malformed or non-byte Range header is ignored, as the RFC allows: the
whole body is sent with 200. A well-formed range that starts past the end is
unsatisfiable (416), and so is one with a position no body can reach (more than
``MAX_DIGITS`` digits): it is never turned into a number.
"""

from __future__ import annotations

import re

_SPEC = re.compile(r"(\d*)-(\d*)", re.ASCII)
MAX_DIGITS = 18  # 10**18 bytes is an exabyte: a longer number is absurd


class Unsatisfiable(ValueError):
    """The range starts at or past the end of the body."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open span [start, end) one Range header asks for, or None for all."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    match = _SPEC.fullmatch(spec.strip())
    if unit.strip().lower() != "bytes" or match is None:
        return None
    first, last = match.groups()
    if len(first) > MAX_DIGITS or len(last) > MAX_DIGITS:
        raise Unsatisfiable(f"a position over {MAX_DIGITS} digits, of {size} bytes")
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(f"bytes=-{suffix} of {size} bytes")
        return max(size - suffix, 0), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable(f"bytes={start}- of {size} bytes")
    return start, min(int(last) + 1, size) if last else size
