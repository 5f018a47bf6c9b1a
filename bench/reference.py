"""Reference costs that bound everything else: one fdatasync on this disk, and one Ray
actor call round trip (measured in a child process with its own private Ray)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from bench import procs


def fsync_loop(path: Path, appends: int = 500, size: int = 512) -> tuple[float, float]:
    """(p50 ms, appends/s) of append + fdatasync: the floor under every durable write."""
    data = os.urandom(size)
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(appends):
            t = time.perf_counter()
            os.write(fd, data)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return statistics.median(times) * 1e3, appends / total


def ray_call(workdir: Path, calls: int, timeout: float = 180.0) -> dict[str, float]:
    """``python -m bench.raycall`` in a child process: p50/p99 of its actor round trips."""
    answer: dict[str, float] = procs.json_child("raycall", [str(calls)], workdir, timeout)
    return answer
