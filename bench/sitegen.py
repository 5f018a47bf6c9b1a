"""A generated site for the publish workload: nested folders, mixed sizes, fixed seed."""

from __future__ import annotations

import random
from pathlib import Path

KINDS = [  # (extension, smallest, largest, weight): mostly small pages, a few big assets
    ("html", 2_000, 40_000, 50),
    ("css", 1_000, 20_000, 15),
    ("js", 5_000, 120_000, 15),
    ("png", 20_000, 400_000, 15),
    ("mp4", 1_000_000, 4_000_000, 5),
]


def generate(root: Path, files: int, total_bytes: int, seed: int = 6) -> tuple[int, int]:
    """Write ``files`` files under ``root`` (3 levels deep), sizes scaled so they add up
    to about ``total_bytes``; returns (files, bytes) written."""
    rng = random.Random(seed)
    sizes, names = [], []
    weights = [k[3] for k in KINDS]
    for i in range(files):
        ext, lo, hi, _ = rng.choices(KINDS, weights)[0]
        sizes.append(rng.randint(lo, hi))
        names.append(f"s{i % 7}/d{i % 13}/f{i}.{ext}")
    scale = total_bytes / sum(sizes)
    sizes = [max(100, int(s * scale)) for s in sizes]
    written = 0
    for name, size in zip(names, sizes, strict=True):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        written += size
    return files, written


def page(size: int = 10 * 1024) -> bytes:
    """A 10 KB HTML page for the hot-page workload."""
    head = b"<!doctype html><html><head><title>hot page</title></head><body><p>"
    tail = b"</p></body></html>\n"
    return head + b"x" * (size - len(head) - len(tail)) + tail
