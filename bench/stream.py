"""Issue 6's last target: the gateway's memory stays flat while a 1 GB body streams in
and out. The client generates the body piece by piece (never holding it), hashes it as it
goes, and checks the hash of what streams back; the ``dwp up`` process's RSS is sampled
every 0.2 s throughout."""

from __future__ import annotations

import hashlib
import os
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench import procs
from bench.servers import Dwp

PIECE = 64 * 1024  # the gateway's chunk size: every generated piece is a distinct chunk
SAMPLE_EVERY = 0.2
CACHE_MIB = 32  # the gateway's chunk cache (dwp.client.network.NetworkClient's default)
SLACK_MIB = 96  # beyond the cache: buffers, chunks in flight (issue 13: idle + 128 MiB in all)
HASH_BYTES = 32  # dwp's content hash: BLAKE2b, 32-byte digest (dwp.core.version)


@dataclass
class Sampler:
    """RSS of one pid every 0.2 s on a thread, tagged with the phase running then."""

    pid: int
    phase: str = "idle"
    samples: list[tuple[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = procs.rss_mib(self.pid)
            if rss is not None:
                self.samples.append((self.phase, rss))
            self._stop.wait(SAMPLE_EVERY)

    def of(self, phase: str) -> list[float]:
        return [v for p, v in self.samples if p == phase]


@dataclass
class StreamResult:
    size: int
    up_seconds: float
    down_seconds: float
    baseline_mib: float
    up_peak_mib: float
    down_peak_mib: float
    before_down_mib: float  # settled after the upload, just before the download
    after_mib: float
    samples: int
    verified: bool

    @property
    def growth_mib(self) -> float:
        return max(self.up_peak_mib, self.down_peak_mib) - self.baseline_mib


def body(size: int, digest: list[bytes], deadline: float) -> Iterator[bytes]:
    """``size`` bytes in 64 KiB pieces, each distinct (an 8-byte counter, then a slice of
    1 MiB of random bytes) so no chunk dedups; the BLAKE2b of it all lands in ``digest``."""
    base = os.urandom(1 << 20)
    hasher = hashlib.blake2b(digest_size=HASH_BYTES)
    sent, i = 0, 0
    while sent < size:
        if time.monotonic() > deadline:
            raise TimeoutError(f"upload passed its time bound after {sent:,} bytes")
        n = min(PIECE, size - sent)
        off = (i * 4099) % (len(base) - PIECE)
        piece = (i.to_bytes(8, "big") + base[off:off + PIECE - 8])[:n]
        hasher.update(piece)
        sent += n
        i += 1
        yield piece
    digest.append(hasher.digest())


def measure(d: Dwp, size: int, timeout: float) -> StreamResult:
    """PUT ``size`` streamed bytes, GET them back to nowhere, RSS sampled throughout."""
    url = f"{d.url}/api/v1/objects/bench/stream.bin"
    limits = httpx.Timeout(connect=10, read=timeout, write=60, pool=10)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=limits) as client, Sampler(d.proc.pid) as rss:
        time.sleep(2.0)  # idle samples: the baseline
        rss.phase = "up"
        sent: list[bytes] = []
        start = time.perf_counter()
        r = client.put(url, content=body(size, sent, deadline), headers={
            **d.auth, "Content-Type": "application/octet-stream",
            "Content-Length": str(size)})
        r.raise_for_status()
        up_seconds = time.perf_counter() - start
        stored = r.json()
        rss.phase = "between"
        time.sleep(1.0)
        rss.phase = "down"
        hasher, got = hashlib.blake2b(digest_size=HASH_BYTES), 0
        start = time.perf_counter()
        with client.stream("GET", url, headers=d.auth) as resp:
            resp.raise_for_status()
            for piece in resp.iter_raw(1 << 20):
                hasher.update(piece)
                got += len(piece)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"download passed its time bound after {got:,} bytes")
        down_seconds = time.perf_counter() - start
        rss.phase = "after"
        time.sleep(1.0)
    verified = (got == size == stored.get("size") and bool(sent)
                and hasher.digest() == sent[0] and stored.get("hash") == sent[0].hex())
    idle, between, after = rss.of("idle"), rss.of("between"), rss.of("after")
    return StreamResult(size, up_seconds, down_seconds,
                        statistics.median(idle) if idle else float("nan"),
                        max(rss.of("up"), default=float("nan")),
                        max(rss.of("down"), default=float("nan")),
                        statistics.median(between) if between else float("nan"),
                        statistics.median(after) if after else float("nan"),
                        len(rss.samples), verified)
