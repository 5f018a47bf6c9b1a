"""For each target a run did not meet (or could not measure), what limits it on this
machine and what was tried: issues 6 and 13 ask for exactly that beside every unmet target.
The text comes from this run's own figures plus bench/findings.md (the profiling)."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.results import Row, Run, Target


def _row(run: Run, prefix: str) -> Row | None:
    return next((r for r in run.rows if r.workload.startswith(prefix)), None)


def _med(run: Run, prefix: str, base: bool = False) -> float:
    r = _row(run, prefix)
    m = None if r is None else (r.base if base else r.dwp)
    return float("nan") if m is None else m.median


def _f(v: float, unit: str = "ms") -> str:
    return "?" if math.isnan(v) else f"{v:.2f} {unit}" if v < 10 else f"{v:,.0f} {unit}"


def _shared(run: Run) -> str:
    load = run.facts.get("Load average at start", "?")
    end = run.facts.get("Load average at end", "?")
    return (f"all of it on 2 cores shared with the load generator (wrk), Ray's raylet/GCS, "
            f"4 storage actors and other engineers' test runs (load average {load} at the "
            f"start, {end} at the end)")


def hot_page(run: Run, t: Target) -> str:
    return (f"**Hot page** ({t.measured}). A hit is answered by `gateway/hot.py` before "
            "any routing or middleware, from a header list built once per cached state, by "
            "two gateway processes (`dwp up --workers 2`); what remains per request is "
            "uvicorn's HTTP parsing and its two socket writes (headers, then body), which "
            "the last profile puts at about half of a gateway's samples, against nginx's C "
            f"with sendfile on 2 workers; {_shared(run)}. *Tried (same-time A/B on this "
            "machine, findings below):* the hot path (a hit no longer goes through FastAPI, "
            "four middlewares and token signing), then a second gateway process (about "
            "1.2-1.5x). A raw ASGI callable on uvicorn that does nothing but send the same "
            "answer is the ceiling of this design, about 1.6x the hot path in one process. "
            "*Next:* a response cache in front of uvicorn (or sendfile-like writes) would be "
            "needed for more; not done.")


def publish(run: Run, t: Target) -> str:
    ray, fsync = _med(run, "6 Ray actor call"), _med(run, "6 append 512 B")
    return (f"**Publish** ({t.measured}). Each file is one HTTP PUT through the gateway "
            "(the `dwp publish` CLI is unchanged); its 64 KiB chunks and its key go to the "
            f"nodes in actor calls (~{_f(ray)} each; the gateway's per-node batcher shares "
            "calls between concurrent uploads' small writes, but a full chunk travels "
            "alone under the ~100 KiB rule), each write committed at its coordinator "
            f"(fsync ~{_f(fsync)} here), then replicated and committed again; the copy "
            "baseline is two local write+fsync per file with no HTTP, serialization or "
            "hashing. Of a publish's time, about 2.5 s is outside the uploads (the CLI's "
            "start, its hashing pass, the listing and the closing reads: a plain httpx "
            "uploader took 7.5 s where `dwp publish` took 10 s, by hand); "
            f"{_shared(run)}. *Tried:* per-node write batching, WAL checkpoints off the "
            "commit path, two gateway processes: together about 5-20% in a same-time A/B "
            "(publish 9.9-10.4 s against main's 10.5-11.0 s; the uploads alone 6.9-7.5 s "
            "against 9.0-10.4 s), far from what the target needs. *Since deploys:* a "
            "publish ends with a deploy (docs/architecture.md, \"Deploys\"), which reads "
            "every key whose content the live deploy does not hold and stores each small "
            "(inline) file once more as a chunk, so a rollback keeps its exact bytes: two "
            "more round trips per new small file. Measured by hand, side by side: a fresh "
            "1,000-file, 50 MB publish took 18.7-21.1 s with the deploy against "
            "14.1-15.6 s without (1.33x); republishing 10 changed files of it 1.7-1.9 s "
            "(the listing answers the unchanged ones). *Next:* several files per request "
            "in `dwp publish`, storing a small file's chunk at upload so the deploy reads "
            "no key, larger chunk messages.")


def scale(run: Run, t: Target) -> str:
    fills = [r for r in run.rows if r.workload.startswith("5 fill to")]
    rate = fills[-1].dwp.median if fills else float("nan")
    minutes = 1e6 / rate / 60 if rate == rate and rate > 0 else float("nan")
    size = ("1M keys not measured in this run: filling at "
            f"{_f(rate, 'PUT/s')} (this run's fill rate) takes ~{minutes:.0f} minutes "
            "(`python -m bench --scale-only --million` does it on its own, filling from a "
            "Ray driver; last run in [benchmarks-1m.md](benchmarks-1m.md)). "
            if "1M keys" in t.goal and "1,000,000" not in t.measured else "")
    return (f"**Scale** ({t.measured}). {size}Between the sizes measured a GET or PUT is "
            "a B-tree lookup in SQLite, which barely grows with the key count; the swing "
            "between sizes is within the round-to-round spread of the same figure and "
            "follows the load: the larger size is measured later, after the fills; "
            f"{_shared(run)}. *Tried:* WAL checkpoints on a background connection, so no "
            "PUT's commit pays for one; per-node write batching (the fill is 32 clients).")


def node_rss(run: Run, t: Target) -> str:
    note = t.note[:1].upper() + t.note[1:]
    return (f"**Node RSS at 1M keys** (not measured in this run). {note}. An idle storage "
            "actor is ~88 MiB (the Ray worker itself); SQLite's page cache is bounded, and "
            "RSS grew only a few MiB between the sizes measured. The 1M-key run on its own "
            "(`python -m bench --scale-only --million`, last written to "
            "[benchmarks-1m.md](benchmarks-1m.md)) measures it.")


def durable_32(run: Run, t: Target) -> str:
    ray, fsync = _med(run, "6 Ray actor call"), _med(run, "6 append 512 B")
    return (f"**Durable PUT, 32 clients** ({t.measured}). Every write is an HTTP request "
            "through FastAPI in a Python gateway process, then an actor call to its "
            f"coordinator (~{_f(ray)} p50 for a lone call; concurrent writes for one node "
            f"now share one) and a group commit with fsync (~{_f(fsync)} p50 on this disk), "
            "then replication: with R=3 on 4 nodes the single shard has 4 replicas, so every "
            "node commits every key. What the 2 cores run out of is CPU per write: by hand "
            "at R=2 (2 nodes commit each write), 1.1-1.2 ms in the gateway and 1.8-2.1 ms "
            "summed over the nodes (Ray's call machinery, SQLite, decoding states), down "
            "from 2.0-2.5 ms and 4.1-4.7 ms before batching; etcd's 3 members batch all "
            "concurrent proposals into one raft append + fsync each, in Go. W=1 (ack after "
            f"one fsync) against etcd's quorum should favour dwp; {_shared(run)}. *Tried:* "
            "per-node write batching in the gateway (a `Batch` message, one group commit), "
            "WAL checkpoints off the commit path, two gateway processes, no worker-thread "
            "hop for the auth check. *Next:* cheaper replication per write (one Replicate "
            "encoding for all peers, fewer state decodes when applying), which lives in the "
            "replica core and codec.")


def put_p50(run: Run, t: Target) -> str:
    ray, fsync = _med(run, "6 Ray actor call"), _med(run, "6 append 512 B")
    etcd = _med(run, "3 durable PUT 10 KB, 1 client, p50", base=True)
    dwp = _med(run, "3 durable PUT 10 KB, 1 client, p50")
    rest = dwp - ray - fsync
    return (f"**Single-client PUT p50** ({t.measured}; dwp {_f(dwp)}, etcd {_f(etcd)}). "
            f"One write is HTTP + FastAPI in the gateway, one Ray actor call ({_f(ray)} p50 "
            f"here, {ray / etcd:.0%} of etcd's whole PUT) and one fsync'd commit "
            f"({_f(fsync)} for a bare fdatasync); the other ~{_f(rest)}, timed by hand at "
            "R=3 (findings below): ~2 ms HTTP and the gateway (3 ms of its CPU per lone "
            "write), ~4 ms at the coordinator (2.6 ms of it SQLite's fsync'd transaction "
            "under the shared disk's load, the rest queueing behind a peer's apply of the "
            "previous write), and the rest waiting for a core: the 4 nodes run 3.8 "
            "transactions and 7 Ray call ends per write on 2 cores shared with the load "
            "generator and other test runs. *Tried:* WAL checkpoints off the commit path, "
            "no worker-thread hop for the auth check (same-time p50 8.2-9.1 ms against "
            "9.0-9.1 ms at R=2). *Next:* the gateway-to-node actor call is a floor that only "
            "a direct socket to the coordinator would remove; cheaper replication would "
            "leave the cores free sooner.")


def get_p50(run: Run, t: Target) -> str:
    ray = _med(run, "6 Ray actor call")
    etcd = _med(run, "3 durable PUT 10 KB, 1 client, p50", base=True)
    return (f"**Single-client GET p50** ({t.measured}; the bar is {_f(etcd / 2)}). A GET "
            "served from the gateway's 1 s key-state cache takes the hot path (no actor "
            "call, no routing), but wrk's single client reads one key, so once a second "
            f"the entry expires and a read pays one Ray actor call (~{_f(ray)}).")


def stream(run: Run, t: Target) -> str:
    return (f"**Streaming** ({t.measured}). Memory is bounded but not back at idle: "
            "uploads hold at most 8 chunks of 64 KiB in flight (each chunk waits for a free "
            "slot before more of the body is read, so TCP pushes back on a fast client), "
            "and downloads keep up to 32 MiB of recently read chunks in the gateway's chunk "
            "cache; the rest above idle is memory Python's allocator keeps after freeing "
            "64 KiB buffers and Ray's own buffers for the actor calls. *Tried:* "
            "backpressure on uploads; the chunk cache halved (64 to 32 MiB). *Next:* "
            "bytearray buffers reused across chunks.")


def edit(run: Run, t: Target) -> str:
    over, new = _med(run, "3 edit"), _med(run, "3 edit", base=True)
    return (f"**Edit** ({t.measured}: overwrites {_f(over)} p50, new keys {_f(new)}). A "
            "write's replication carries the new version alone, and each kept version is "
            "a row of its own, so an overwrite inserts the version it superseded and "
            "deletes the one that fell out (two rows, one 10 KB body written), on the "
            "coordinator and on each peer; a new key inserts one row. What remains beyond "
            "a new key is that row and the kept versions' metadata read with the state. "
            f"Not profiled in this run; {_shared(run)}.")


def anti_entropy(run: Run, t: Target) -> str:
    return f"**Anti-entropy** ({t.measured}). {t.note}."


EXPLAIN: list[tuple[str, Callable[[Run, Target], str]]] = [
    ("hot page", hot_page), ("publish", publish), ("p50 at 1M", scale),
    ("a storage node", node_rss), ("durable PUT throughput", durable_32),
    ("single-client PUT", put_p50), ("single-client GET", get_p50),
    ("the gateway's memory", stream), ("anti-entropy", anti_entropy), ("overwrite", edit),
]


def explain(run: Run) -> list[str]:
    """One paragraph per target that was not met or not measured, in the table's order."""
    out = []
    for t in run.targets:
        if t.met:
            continue
        fn = next((f for prefix, f in EXPLAIN if t.goal.startswith(prefix)), None)
        out.append(fn(run, t) if fn else f"**{t.goal}** ({t.measured}): {t.note}")
    return out
