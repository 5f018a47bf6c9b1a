"""The floor of one write: the gateway -> coordinator Ray call, and the ways past it that
keep each node a Ray actor owning its replica, measured side by side in one run.

``python -m bench --floor-only`` runs ``python -m bench.floor`` in a child process with
its own private Ray (as bench/raycall.py does) and prints the table. The driver is an
asyncio program, as the gateway is; each node is an async actor shaped like
``dwp.actor.StorageNode`` (Ray's default concurrency, its state on the loop its
``__init__`` runs on, one writer thread, group commit). The variants:

- ``a``: today's call shape, one awaited actor call per write;
- ``b``: the same with the write method in its own concurrency group (Ray runs a group
  on its own thread and event loop, so the write hops to the node's loop, where the
  node's state lives);
- ``c``: the driver batches: one call in flight, the next carries whatever queued
  meanwhile (at most ``BATCH``, as the gateway's ``dwp.batcher`` allows at 10 KB);
- ``d``: a data socket the actor serves itself (asyncio, TCP on loopback, length-prefixed
  frames), one persistent connection from the driver; Ray still creates and places it.

Each does the same work in the actor: none (its reply is the payload's length), or, in
the second row, one fsync'd SQLite commit of the payload (WAL, ``synchronous=FULL``, as
``dwp.node.sqlite`` commits). Rounds alternate the variants so that each sees the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray

from bench import procs

PAYLOAD = 10_000
WRITERS = 8
BATCH = 8  # the gateway's batcher caps a call at 96 KiB: 9 writes of 10 KB
ROUNDS = 4
SEQUENTIAL = 150  # one writer's writes per row and round
PER_WRITER = 40  # each of the 8 writers' writes per row and round
PHASE_SECONDS = 2.0  # and no phase runs longer than this
VARIANTS = {
    "a": "(a) Ray call, async actor (today's shape)",
    "b": "(b) Ray call, write method in its own concurrency group",
    "c": f"(c) Ray call, driver batches what queued (<= {BATCH} a call)",
    "d": "(d) socket the actor serves (TCP loopback, length-prefixed)",
}
KINDS = {"none": "no work", "fsync": "fsync'd SQLite commit"}
# Formats, not Structs: the actor's class goes to Ray by value, and a Struct cannot.
FRAME = "!IIB"  # payload length, request id, durable
REPLY = "!II"  # request id, answer
FRAME_SIZE, REPLY_SIZE = struct.calcsize(FRAME), struct.calcsize(REPLY)

Write = Callable[[bytes], Awaitable[int]]


# -- the actor side -------------------------------------------------------------------


class Committer:
    """Group commit on one writer thread, as the node's: whatever queued while a
    transaction ran goes in the next one."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS w (k INTEGER PRIMARY KEY, v BLOB)")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="floor-writer")
        self.queued: list[tuple[list[bytes], asyncio.Future[None]]] = []
        self.draining: asyncio.Task[None] | None = None
        self.keys = itertools.count()

    async def commit(self, datas: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self.queued.append((datas, done))
        if self.draining is None:
            self.draining = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queued:
                batch, self.queued = self.queued, []
                rows = [(next(self.keys) % 256, d) for datas, _ in batch for d in datas]
                await loop.run_in_executor(self.writer, self._write, rows)
                for _, done in batch:
                    done.set_result(None)
        finally:
            self.draining = None

    def _write(self, rows: list[tuple[int, bytes]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT OR REPLACE INTO w VALUES (?, ?)", rows)
        self.conn.execute("COMMIT")


class FloorNode:
    """A node's call shape with nothing behind it but the optional commit."""

    def __init__(self, db_path: str) -> None:
        self.loop = asyncio.get_running_loop()
        self.committer = Committer(db_path)
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def _apply(self, datas: list[bytes], durable: bool) -> list[int]:
        if durable:
            await self.committer.commit(datas)
        return [len(d) for d in datas]

    async def write(self, data: bytes, durable: bool) -> int:
        return (await self._apply([data], durable))[0]

    async def write_many(self, datas: list[bytes], durable: bool) -> list[int]:
        return await self._apply(datas, durable)

    async def serve(self) -> int:
        """Start the data socket on this node's loop; its port."""
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size, rid, durable = struct.unpack(FRAME, await reader.readexactly(FRAME_SIZE))
                data = await reader.readexactly(size)
                task = self.loop.create_task(self._answer(writer, rid, data, bool(durable)))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, rid: int, data: bytes,
                      durable: bool) -> None:
        (answer,) = await self._apply([data], durable)
        writer.write(struct.pack(REPLY, rid, answer))


class GroupedNode(FloorNode):
    """The same node with its write method in a concurrency group of its own."""

    @ray.method(concurrency_group="writes")  # type: ignore[misc]
    async def write_grouped(self, data: bytes, durable: bool) -> int:
        moved = asyncio.run_coroutine_threadsafe(self._apply([data], durable), self.loop)
        return (await asyncio.wrap_future(moved))[0]


# -- the driver side ------------------------------------------------------------------


class DriverBatcher:
    """One call in flight to the node; writes that arrive meanwhile go in the next."""

    def __init__(self, node: Any, durable: bool) -> None:
        self.node, self.durable = node, durable
        self.queued: list[tuple[bytes, asyncio.Future[int]]] = []
        self.in_flight: asyncio.Task[None] | None = None
        self.calls = 0
        self.writes = 0

    async def write(self, data: bytes) -> int:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        self.queued.append((data, answer))
        if self.in_flight is None:
            self.in_flight = loop.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self.queued:
                batch, self.queued = self.queued[:BATCH], self.queued[BATCH:]
                self.calls += 1
                self.writes += len(batch)
                got = await self.node.write_many.remote([d for d, _ in batch], self.durable)
                for (_, answer), n in zip(batch, got, strict=True):
                    answer.set_result(n)
        finally:
            self.in_flight = None


class SocketClient:
    """One persistent connection; replies matched to writes by request id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.waiting: dict[int, asyncio.Future[int]] = {}
        self.ids = itertools.count()
        self.reading = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> SocketClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def write(self, data: bytes, durable: bool) -> int:
        rid = next(self.ids) & 0xFFFFFFFF
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = answer
        self.writer.writelines([struct.pack(FRAME, len(data), rid, durable), data])
        await self.writer.drain()
        return await answer

    async def _read(self) -> None:
        while True:
            rid, n = struct.unpack(REPLY, await self.reader.readexactly(REPLY_SIZE))
            self.waiting.pop(rid).set_result(n)

    async def close(self) -> None:
        self.reading.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def sequential(write: Write, data: bytes, n: int) -> list[float]:
    """One writer, one write at a time: each write's seconds."""
    times: list[float] = []
    deadline = time.perf_counter() + PHASE_SECONDS
    while len(times) < n and time.perf_counter() < deadline:
        t = time.perf_counter()
        await write(data)
        times.append(time.perf_counter() - t)
    return times


async def concurrent(write: Write, data: bytes, per_writer: int
                     ) -> tuple[list[float], float]:
    """``WRITERS`` writers at once, each one write at a time: every write's seconds, and
    the phase's."""
    times: list[float] = []
    start = time.perf_counter()
    deadline = start + PHASE_SECONDS

    async def writer() -> None:
        for _ in range(per_writer):
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            await write(data)
            times.append(time.perf_counter() - t)

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return times, time.perf_counter() - start


class Variants:
    """Each variant's write, for one kind of work."""

    def __init__(self, plain: Any, grouped: Any, sock: SocketClient) -> None:
        self.plain, self.grouped, self.sock = plain, grouped, sock
        self.batchers: dict[bool, DriverBatcher] = {
            d: DriverBatcher(plain, d) for d in (False, True)}

    def write(self, variant: str, durable: bool) -> Write:
        if variant == "a":
            return lambda d: self._await(self.plain.write.remote(d, durable))
        if variant == "b":
            return lambda d: self._await(self.grouped.write_grouped.remote(d, durable))
        if variant == "c":
            return self.batchers[durable].write
        return lambda d: self.sock.write(d, durable)

    def batched(self) -> list[int]:
        """(c)'s calls and the writes they carried, so far."""
        return [sum(b.calls for b in self.batchers.values()),
                sum(b.writes for b in self.batchers.values())]

    @staticmethod
    async def _await(ref: Any) -> int:
        return int(await ref)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def _run(plain: Any, grouped: Any, port: int) -> dict[str, Any]:
    sock = await SocketClient.open(port)
    try:
        v = Variants(plain, grouped, sock)
        data = os.urandom(PAYLOAD)
        for variant in VARIANTS:  # warm every path before any is measured
            await sequential(v.write(variant, False), data, 30)
            await concurrent(v.write(variant, True), data, 2)
        seq: dict[str, list[float]] = {}
        conc: dict[str, list[float]] = {}
        spent: dict[str, float] = {}
        load = [_loadavg()]
        batched = [0, 0]  # (c)'s calls and writes while 8 writers wrote
        for r in range(ROUNDS):
            order = list(VARIANTS)[r % len(VARIANTS):] + list(VARIANTS)[:r % len(VARIANTS)]
            for kind in KINDS:
                for variant in order:
                    row = f"{variant}/{kind}"
                    write = v.write(variant, kind == "fsync")
                    seq.setdefault(row, []).extend(await sequential(write, data, SEQUENTIAL))
                    before = v.batched()
                    times, seconds = await concurrent(write, data, PER_WRITER)
                    if variant == "c":
                        calls = [n - b for n, b in zip(v.batched(), before, strict=True)]
                        batched = [n + c for n, c in zip(batched, calls, strict=True)]
                    conc.setdefault(row, []).extend(times)
                    spent[row] = spent.get(row, 0.0) + seconds
            load.append(_loadavg())
        return {"rows": {row: _summary(seq[row], conc[row], spent[row]) for row in seq},
                "load": load, "batch_mean": batched[1] / max(1, batched[0])}
    finally:
        await sock.close()


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] * 1e3


def _summary(seq: list[float], conc: list[float], seconds: float) -> dict[str, float]:
    return {"p50_ms": statistics.median(seq) * 1e3, "p90_ms": _pct(seq, 0.9),
            "writes": len(seq), "conc_p50_ms": statistics.median(conc) * 1e3,
            "conc_writes": len(conc), "writes_per_s": len(conc) / seconds}


def main() -> None:
    from dwp.local import init_ray

    out = Path(sys.argv[1])
    init_ray(object_store_mb=128)
    try:
        with tempfile.TemporaryDirectory(prefix="dwp-floor-") as tmp:
            plain = ray.remote(FloorNode).options(num_cpus=0).remote(f"{tmp}/plain.db")
            grouped = ray.remote(concurrency_groups={"writes": 1000})(GroupedNode).options(
                num_cpus=0).remote(f"{tmp}/grouped.db")
            port = ray.get(plain.serve.remote(), timeout=120)
            ray.get(grouped.write.remote(b"", False), timeout=120)
            started = time.monotonic()
            result = asyncio.run(_run(plain, grouped, port))
            result["seconds"] = time.monotonic() - started
            out.write_text(json.dumps(result))
    finally:
        ray.shutdown()


# -- the parent side: ``python -m bench --floor-only`` --------------------------------


def measure(workdir: Path, timeout: float = 170.0) -> dict[str, Any]:
    """``python -m bench.floor`` in a child process: its JSON answer."""
    answer: dict[str, Any] = procs.json_child("floor", [], workdir, timeout)
    return answer


def table(result: dict[str, Any]) -> str:
    """The rows as a Markdown table, each beside (a) doing the same work."""
    lines = ["| variant | work | p50 ms | p90 ms | per-write p50, 8 writers, ms | "
             "writes/s, 8 writers | p50 / (a) | writes/s / (a) |",
             "|---|---|---|---|---|---|---|---|"]
    rows = result["rows"]
    for kind, work in KINDS.items():
        base = rows[f"a/{kind}"]
        for variant, label in VARIANTS.items():
            r = rows[f"{variant}/{kind}"]
            lines.append(
                f"| {label} | {work} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                f"{r['conc_p50_ms']:.2f} | {r['writes_per_s']:,.0f} | "
                f"{r['p50_ms'] / base['p50_ms']:.2f}x | "
                f"{r['writes_per_s'] / base['writes_per_s']:.2f}x |")
    lines.append("")
    lines.append(f"{ROUNDS} alternating rounds of {SEQUENTIAL} sequential writes and "
                 f"{WRITERS} writers x {PER_WRITER} per row (each phase at most "
                 f"{PHASE_SECONDS:.0f} s), {PAYLOAD:,} B payloads; under 8 writers (c) carried "
                 f"{result['batch_mean']:.1f} writes a call on average; load average "
                 f"{' -> '.join(result['load'])}; {result['seconds']:.0f} s measuring.")
    return "\n".join(lines)


def report(workdir: Path) -> None:
    print(table(measure(workdir)))


if __name__ == "__main__":
    main()
