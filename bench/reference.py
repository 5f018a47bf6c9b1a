"""Reference costs that bound everything else: one fdatasync on this disk, and one Ray
actor call round trip (measured in a child process with its own private Ray)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
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
    """Run ``python -m bench.raycall`` in its own process group; its JSON answer."""
    out = workdir / "logs" / "raycall.json"
    p = procs.start("raycall", [sys.executable, "-m", "bench.raycall", str(calls), str(out)],
                    workdir / "logs" / "raycall.log",
                    env={"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
                    cwd=Path(__file__).resolve().parent.parent)
    try:
        p.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        procs.stop(p)
    if not out.exists():
        raise RuntimeError(f"the Ray call probe gave no answer; see {p.log}")
    return json.loads(out.read_text())
