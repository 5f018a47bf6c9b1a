"""Child process: a private local Ray (as ``dwp up`` starts it) and a trivial async
actor; writes p50/p99 of sequential driver -> actor round trips as JSON."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import ray

from dwp.local import init_ray


class Echo:
    async def ping(self, data: bytes) -> int:
        return len(data)


async def _measure(actor: object, calls: int) -> list[float]:
    payload = b"x" * 1024
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        await actor.ping.remote(payload)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    calls, out = int(sys.argv[1]), Path(sys.argv[2])
    init_ray(object_store_mb=128)
    try:
        actor = ray.remote(Echo).options(num_cpus=0).remote()
        ray.get(actor.ping.remote(b""), timeout=120)
        asyncio.run(_measure(actor, 50))
        times = sorted(asyncio.run(_measure(actor, calls)))
        out.write_text(json.dumps({
            "calls": calls, "p50_ms": statistics.median(times) * 1e3,
            "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3}))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
