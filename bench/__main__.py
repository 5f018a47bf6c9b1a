"""``python -m bench``: run every workload once, in order, and write docs/benchmarks.md.

The order keeps one R=2 network for the read, publish and scale workloads (its key
count only grows), then an R=3 network beside etcd for durable writes.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import antientropy, install, machine, procs, reference, report, servers
from bench import workloads as w
from bench.results import Run

DEFAULT = w.Settings()
QUICK = w.Settings(rounds=1, seconds=2, latency_seconds=2, cold_objects=1_000,
                   scale_sizes=(1_000, 5_000), site_files=300, site_bytes=10 * 10**6,
                   stream_bytes=100 * 10**6)
GATEWAY_WORKERS = 2  # `dwp up --workers`: one per core of this 2-core machine
REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
LAST = Path(__file__).with_name("last_run.json")  # the raw numbers behind docs/benchmarks.md


def log(msg: str, started: float = time.monotonic()) -> None:
    print(f"[bench {time.monotonic() - started:6.0f}s] {msg}", file=sys.stderr, flush=True)


def attempt(run: Run, name: str, fn: Callable[[], Any]) -> Any:
    """Run one step; a failure becomes a note in the report instead of ending the run."""
    log(name)
    try:
        return fn()
    except Exception as exc:
        traceback.print_exc()
        run.notes.append(f"**{name} failed**: {type(exc).__name__}: {exc}")
        return None


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a ~2 minute smoke run")
    p.add_argument("--million", action="store_true",
                   help="also fill to 1M keys (slow here: tens of minutes)")
    p.add_argument("--scale-only", action="store_true",
                   help="only the scale workload (with --million: the 1M-key run alone)")
    p.add_argument("--edit-only", action="store_true",
                   help="only the edit workload (overwrites beside new keys), R=3")
    p.add_argument("--floor-only", action="store_true",
                   help="only the floor of one write: the gateway's Ray call beside the "
                        "ways past it (bench/floor.py), printed as a table")
    p.add_argument("--profile", action="store_true",
                   help="profile dwp's hot paths with py-spy instead of benchmarking")
    p.add_argument("--out", type=Path, default=DOC)
    p.add_argument("--profile-out", type=Path, default=None,
                   help="where --profile writes its stacks (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir")
    p.add_argument("--render", action="store_true",
                   help=f"only re-render --out from the last run's {LAST.name}")
    return p.parse_args()


def main() -> None:
    args = parse()
    if args.render:
        report.rerender(LAST, args.out)
        return
    settings = QUICK if args.quick else DEFAULT
    if args.million:
        settings = w.Settings(**{**settings.__dict__,
                                 "scale_sizes": (*settings.scale_sizes, 1_000_000)})
    installed = [] if args.floor_only else install.ensure_tools()
    workdir = Path(tempfile.mkdtemp(prefix="dwp-bench-"))
    atexit.register(procs.stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"scratch dir {workdir}")
    try:
        if args.profile:
            from bench import profile
            profile.main(workdir, args.profile_out)
            return
        if args.floor_only:
            from bench import floor
            floor.report(workdir)
            return
        run = Run()
        run.facts = machine.describe(workdir)
        if installed:
            run.facts["Installed by this run"] = ", ".join(installed)
        started = time.monotonic()
        if args.scale_only:
            bench_scale(run, w.Ctx(run, settings, workdir))
        elif args.edit_only:
            bench_edit(run, w.Ctx(run, settings, workdir))
        else:
            bench_all(run, w.Ctx(run, settings, workdir), args.quick)
        run.facts["Load average at end"] = " ".join(
            Path("/proc/loadavg").read_text().split()[:3])
        minutes = (time.monotonic() - started) / 60
        mode = ("--quick smoke run" if args.quick else "default run") + (
            ", scale workload only (--scale-only)" if args.scale_only else "") + (
            ", edit workload only (--edit-only)" if args.edit_only else "")
        report.write(run, args.out, f"This is a {mode}; the benchmark took {minutes:.1f} "
                                    "minutes.", LAST if args.out == DOC
                     else None, scrub={str(workdir): "<scratch>", str(REPO) + "/": ""})
        log(f"wrote {args.out}")
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def bench_all(run: Run, ctx: w.Ctx, quick: bool) -> None:
    s = ctx.settings
    workdir = ctx.workdir
    run.command(f"{sys.executable} -m bench" + (" --quick" if quick else ""))
    attempt(run, "6 reference: fsync and Ray call", lambda: references(run, workdir, s))
    www = workdir / "www"
    www.mkdir()
    nginx = servers.start_nginx(workdir, www)
    run.command(" ".join(nginx.proc.proc.args))  # type: ignore[arg-type]
    log("starting dwp (4 nodes, R=2)")
    d2 = servers.start_dwp(workdir, "r2", 4, 2, workers=GATEWAY_WORKERS)
    run.command(_dwp_cmd(d2, 2))
    attempt(run, "1 hot page", lambda: w.hot_page(ctx, d2, nginx))
    attempt(run, "2 cold reads", lambda: w.cold_reads(ctx, d2, nginx))
    procs.stop(nginx.proc)
    scale: dict[str, float] = {}
    attempt(run, f"5 scale at {s.scale_sizes[0]:,}", lambda: w.scale_point(ctx, d2, 0, scale))
    attempt(run, "4 publish", lambda: w.publish(ctx, d2, 2))
    for stage, size in enumerate(s.scale_sizes[1:], start=1):
        attempt(run, f"5 fill to {size:,}", lambda n=size, st=stage: w.fill_to(ctx, d2, n, st))
        attempt(run, f"5 scale at {size:,}", lambda n=size: w.scale_point(ctx, d2, n, scale))
    judge_scale(run, scale)
    in_sync = servers.wait_in_sync(d2, 120)
    servers.stop_dwp(d2)
    exchanges = attempt(run, "5 anti-entropy (R=2)", lambda: antientropy.measure(d2.data_dir))
    shutil.rmtree(d2.data_dir, ignore_errors=True)

    etcd = servers.start_etcd(workdir)
    run.command(" ".join(etcd.members[0].proc.args) + "   # and m2, m3 alike")  # type: ignore[arg-type]
    log("starting dwp (4 nodes, R=3)")
    d3 = servers.start_dwp(workdir, "r3", 4, 3, workers=GATEWAY_WORKERS)
    run.command(_dwp_cmd(d3, 3))
    shards = d3.network()["shards"]
    run.notes.append(f"R=3 on 4 nodes: the view has {len(shards)} shard(s) with "
                     f"{', '.join(str(len(sh['replicas'])) for sh in shards)} replicas "
                     "(nodes // R shards, every node a replica). dwp acknowledges a write "
                     "after the coordinating replica's fsync (W=1, the default), then "
                     "replicates; etcd acknowledges after a majority (2 of 3) fsync'd its "
                     "raft log: the durability promises differ.")
    attempt(run, "3 durable writes", lambda: w.durable_writes(ctx, d3, etcd))
    attempt(run, "3 edit", lambda: w.edits(ctx, d3))
    for m in etcd.members:
        procs.stop(m)
    in_sync3 = servers.wait_in_sync(d3, 120)
    servers.stop_dwp(d3)
    exchanges3 = attempt(run, "5 anti-entropy (R=3)", lambda: antientropy.measure(d3.data_dir))
    judge_anti_entropy(run, [*(exchanges or []), *(exchanges3 or [])], in_sync and in_sync3)

    if attempt(run, f"7 stream {w.size_label(s.stream_bytes)} (fresh 4 nodes, R=2)",
               lambda: streaming(ctx)) is None:
        run.judge(w.STREAM_GOAL, None, "", lambda v: True, "the streaming run failed (notes)")
    run.notes.append("Load generator: wrk (C, epoll) runs on the same 2 cores as the "
                     "servers, as do dwp's gateway, Ray's raylet/GCS and 4 storage actors; "
                     f"dwp's gateway is {GATEWAY_WORKERS} uvicorn processes on one port "
                     f"(`dwp up --workers {GATEWAY_WORKERS}`, each its own Ray driver; the "
                     "streaming network runs one, so its RSS is the one process's), nginx "
                     "runs 2 workers. Every run is bounded by a duration or a request "
                     "budget plus a timeout.")


def bench_scale(run: Run, ctx: w.Ctx) -> None:
    """The scale workload on its own (``--scale-only``): the cold objects it reads, then
    p50 and RSS at each size, filling in between."""
    s, workdir = ctx.settings, ctx.workdir
    run.command(f"{sys.executable} -m bench --scale-only"
                + (" --million" if s.scale_sizes[-1] >= 1_000_000 else ""))
    www = workdir / "www"
    www.mkdir()
    nginx = servers.start_nginx(workdir, www)
    d2 = servers.start_dwp(workdir, "r2", 4, 2, workers=GATEWAY_WORKERS)
    run.command(_dwp_cmd(d2, 2))
    attempt(run, "2 cold reads", lambda: w.cold_reads(ctx, d2, nginx))
    procs.stop(nginx.proc)
    scale: dict[str, float] = {}
    attempt(run, f"5 scale at {s.scale_sizes[0]:,}", lambda: w.scale_point(ctx, d2, 0, scale))
    for stage, size in enumerate(s.scale_sizes[1:], start=1):
        attempt(run, f"5 fill to {size:,}", lambda n=size, st=stage: w.fill_to(ctx, d2, n, st))
        attempt(run, f"5 scale at {size:,}", lambda n=size: w.scale_point(ctx, d2, n, scale))
    judge_scale(run, scale)
    servers.stop_dwp(d2)


def bench_edit(run: Run, ctx: w.Ctx) -> None:
    """The edit workload on its own (``--edit-only``), on the R=3 network of the
    durable writes, so its rows can be compared between two trees in minutes."""
    run.command(f"{sys.executable} -m bench --edit-only")
    d3 = servers.start_dwp(ctx.workdir, "r3", 4, 3, workers=GATEWAY_WORKERS)
    run.command(_dwp_cmd(d3, 3))
    attempt(run, "3 edit", lambda: w.edits(ctx, d3))
    servers.stop_dwp(d3)


def _dwp_cmd(d: servers.Dwp, replicas: int) -> str:
    return (f"{d.launcher} --data-dir <scratch>/r{replicas} --port {d.port} "
            f"--host 127.0.0.1 --nodes 4 --replicas {replicas} --workers {GATEWAY_WORKERS}")


def streaming(ctx: w.Ctx) -> object:
    """The large-body workload on a network of its own, so no other data is in its way."""
    ds = servers.start_dwp(ctx.workdir, "stream", 4, 2)
    try:
        return w.streaming(ctx, ds)
    finally:
        servers.stop_dwp(ds)
        shutil.rmtree(ds.data_dir, ignore_errors=True)


def references(run: Run, workdir: Path, s: w.Settings) -> None:
    fs = run.row("6 append 512 B + fdatasync, p50 (this disk)", "ms")
    rate = run.row("6 append 512 B + fdatasync, rate", "ops/s")
    for _ in range(s.rounds):
        p50, ops = reference.fsync_loop(workdir / "fsync.probe")
        fs.dwp.samples.append(p50)
        rate.dwp.samples.append(ops)
    got = reference.ray_call(workdir, 2000 if s.rounds > 1 else 500)
    ray_row = run.row("6 Ray actor call round trip (asyncio driver, 1 KiB), p50", "ms",
                      note=f"p99 {got['p99_ms']:.2f} ms over {got['calls']} calls")
    ray_row.dwp.samples.append(got["p50_ms"])


def judge_scale(run: Run, scale: dict[str, float]) -> None:
    if "last_keys" not in scale or scale["last_keys"] == scale["keys"]:
        run.judge("p50 at 1M keys within 20% of p50 at 10k", None, "", lambda v: True)
        return
    worst = max(scale["last_get"] / scale["get"], scale["last_put"] / scale["put"])
    at = f"{scale['last_keys']:,.0f} keys vs {scale['keys']:,.0f}"
    run.judge("p50 at 1M keys within 20% of p50 at 10k", worst,
              "{:.2f}x (worse of GET, PUT) at " + at, lambda v: v <= 1.2,
              "" if scale["last_keys"] >= 1e6 else "largest size measured; 1M with "
              "`--million` (alone: `--scale-only --million`)")
    node_keys, rss = scale["max_node_keys"], scale["max_rss"]
    run.judge("a storage node with 1M keys under 200 MiB RSS",
              rss if scale["last_keys"] >= 1e6 else None, "{:.0f} MiB", lambda v: v < 200,
              f"largest node RSS {rss:.0f} MiB holding {node_keys:,.0f} keys (keys of 10 KB "
              "and 100 B values) of the network's "
              f"{scale['last_keys']:,.0f}: read as the issue's 'node RSS at 1M keys' "
              "(R=2 on 4 nodes: each node holds about half the keys)"
              + ("" if scale["last_keys"] >= 1e6 else "; 1M keys needs --million"))


def judge_anti_entropy(run: Run, exchanges: list[antientropy.Exchange], live_sync: bool
                       ) -> None:
    for e in exchanges:
        run.row(f"5 anti-entropy, in-sync round, shard {e.shard}, {e.keys:,} keys",
                "bytes", note=f"{'digests equal' if e.in_sync else 'digests DIFFER'}: one "
                f"call whose reply holds {e.root_hashes} hash + the applied vector; if they "
                f"differed: {e.partitions} partition hashes = {e.partition_bytes:,} B, then "
                f"~{e.entries_bytes:,} B of entry hashes per differing partition"
                ).dwp.samples.append(e.root_bytes)
    synced = [e for e in exchanges if e.in_sync]
    if len(synced) < 2:
        run.judge("anti-entropy between in-sync replicas: O(partitions) hashes, not O(keys)",
                  None, "", lambda v: True, "fewer than two in-sync shards were measured")
        return
    small, big = min(synced, key=lambda e: e.keys), max(synced, key=lambda e: e.keys)
    growth = big.root_bytes / small.root_bytes
    run.judge("anti-entropy between in-sync replicas: O(partitions) hashes, not O(keys)",
              growth, f"{{:.2f}}x the bytes for {big.keys / max(1, small.keys):.1f}x the keys "
              f"({small.root_bytes} B at {small.keys:,} keys, {big.root_bytes} B at "
              f"{big.keys:,})", lambda v: v < 1.5,
              "measured offline from the stopped nodes' stores" +
              ("" if live_sync else "; the live network had not fully converged"))


if __name__ == "__main__":
    main()
