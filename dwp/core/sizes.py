"""Byte counts and counts of things for people: one spelling for the CLI and the web UI.

Sizes are in binary units (1 KiB = 1,024 bytes), the units the docs and the limits use
(64 KiB chunks, messages under 100 KiB), so a file reads the same in both.
"""

from __future__ import annotations

UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """``361 B``, ``244.1 KiB``, ``1.5 GiB``: one decimal from KiB up."""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in UNITS:
        size /= 1024
        if round(size, 1) < 1024 or unit == UNITS[-1]:
            break
    return f"{size:.1f} {unit}"


def count(n: int, thing: str, things: str | None = None) -> str:
    """``1 shard``, ``2 shards``; ``things`` for a plural that is not ``thing`` + s."""
    return f"{n} {thing if n == 1 else things or thing + 's'}"
