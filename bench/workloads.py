"""The workloads of issue 6. Each runs dwp and its baseline in alternating rounds and
adds rows (medians, ratios) and target verdicts to the Run."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from bench import procs, servers, sitegen, stream, wrk
from bench.results import Metric, Row, Run
from bench.servers import Dwp, Etcd, Nginx

KB10 = 10 * 1024


@dataclass(frozen=True)
class Settings:
    rounds: int = 3
    seconds: float = 5.0  # one throughput run
    latency_seconds: float = 4.0  # one single-client latency run
    cold_objects: int = 10_000
    scale_sizes: tuple[int, ...] = (10_000, 100_000)
    site_files: int = 1_000
    site_bytes: int = 50 * 10**6
    publish_jobs: int = 8
    connections: int = 32
    stream_bytes: int = 10**9  # the streamed body (issue 6: 1 GB); under dwp's 1 GiB limit


@dataclass
class Ctx:
    run: Run
    settings: Settings
    workdir: Path

    def wrk(self, url: str, spec: wrk.Spec, connections: int, seconds: float,
            timeout: float | None = None) -> wrk.WrkResult:
        threads = 1 if spec.budget or connections < 2 else 2
        self.run.command(f"wrk -t {threads} -c {connections} -d {seconds:.0f}s --timeout 10s "
                         f"-s <{spec.method} script> {url}")
        res = wrk.run(url, spec, connections=connections, seconds=seconds,
                      workdir=self.workdir, timeout=timeout)
        if res.truncated:
            self.run.notes.append(f"A {spec.method} run against {url}{spec.path} hit its "
                                  f"time bound after {res.requests} of {spec.budget} "
                                  "requests (some requests never answered)")
        if res.errors:
            self.run.notes.append(f"{res.errors} failed requests in a {spec.method} run "
                                  f"against {url}{spec.path}"
                                  + (f" (first: {res.first_bad})" if res.first_bad else ""))
        return res


def alternate(round_no: int, *pairs: tuple[str, object]) -> list[tuple[str, object]]:
    """Even rounds in the given order, odd rounds reversed: neither side always goes
    first (warm caches, a neighbour's test run)."""
    return list(pairs) if round_no % 2 == 0 else list(reversed(pairs))


def auth_headers(d: Dwp) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {d.token}"),)


def put_spec(d: Dwp, prefix: str, size: int, budget: int = 0, count: int = 0) -> wrk.Spec:
    """PUTs to ``prefix/0``, ``prefix/1``...: new keys, or ``count`` keys in turn."""
    return wrk.Spec("PUT", f"/api/v1/objects/{prefix}/{{i}}", body_size=size,
                    headers=(*auth_headers(d), ("Content-Type", "application/octet-stream")),
                    count=count, budget=budget)


# -- 1 hot page -----------------------------------------------------------------------

def site_host(url: str, site: str) -> tuple[tuple[str, str], ...]:
    """The Host header that reaches ``site`` on its own origin at the gateway ``url``."""
    return (("Host", f"{site}.localhost:{urlsplit(url).port}"),)


def hot_page(ctx: Ctx, d: Dwp, nginx: Nginx) -> None:
    body = sitegen.page()
    (nginx.root / "page.html").write_bytes(body)
    httpx.put(f"{d.url}/api/v1/objects/bench/page.html", content=body, timeout=30,
              headers={**d.auth, "Content-Type": "text/html"}).raise_for_status()
    path, via, host = "/page.html", "the site's origin", site_host(d.url, "bench")
    r = httpx.get(d.url + path, headers=dict(host), timeout=30)
    if r.status_code != 200 or r.content != body:
        path, via, host = "/api/v1/objects/bench/page.html", "/api/v1/objects", ()
        ctx.run.notes.append("Hot page: the site's origin did not serve the page "
                             f"(HTTP {r.status_code}); measured through the object API.")
    s, c = ctx.settings, ctx.settings.connections
    row = ctx.run.row(f"1 hot page: GET 10 KB through {via}, {c} connections", "req/s",
                      "nginx, same file from disk")
    p50 = ctx.run.row(f"1 hot page: p50 latency at {c} connections", "ms", "nginx")
    ctx.wrk(d.url, wrk.Spec(path=path, headers=host), c, 2)
    ctx.wrk(nginx.url, wrk.Spec(path="/page.html"), c, 2)
    for i in range(s.rounds):
        for name, _ in alternate(i, ("dwp", None), ("nginx", None)):
            url, spec = ((d.url, wrk.Spec(path=path, headers=host)) if name == "dwp"
                         else (nginx.url, wrk.Spec(path="/page.html")))
            res = ctx.wrk(url, spec, c, s.seconds)
            _add(row, name == "dwp", res.rps)
            _add(p50, name == "dwp", res.p50_ms)
    ctx.run.judge("hot page throughput >= 25% of nginx", row.ratio, "{:.1%} of nginx",
                  lambda v: v >= 0.25)


# -- 2 cold reads ---------------------------------------------------------------------

def cold_reads(ctx: Ctx, d: Dwp, nginx: Nginx) -> None:
    n, c = ctx.settings.cold_objects, ctx.settings.connections
    cold = nginx.root / "cold"
    cold.mkdir(exist_ok=True)
    for i in range(n):
        (cold / str(i)).write_bytes(b"d" * KB10)
    load = ctx.run.row(f"2 load: PUT {n:,} distinct 10 KB objects, {c} connections",
                       "req/s", note="R=2; each write fsync'd at its coordinator")
    res = ctx.wrk(d.url, put_spec(d, "cold", KB10, budget=n), c, 3600,
                  timeout=max(120.0, n / 20))
    load.dwp.samples.append(res.rps)
    spec_dwp = wrk.Spec(path="/api/v1/objects/cold/{i}", count=n, budget=n)
    spec_ngx = wrk.Spec(path="/cold/{i}", count=n, budget=n)
    p50 = ctx.run.row(f"2 cold reads: GET {n:,} distinct 10 KB objects once, 1 client, p50",
                      "ms", "nginx, 10,000 files", note="each object read once, in order")
    p99 = ctx.run.row("2 cold reads: p99", "ms", "nginx")
    for name, _ in alternate(0, ("nginx", None), ("dwp", None)):
        url, spec = (d.url, spec_dwp) if name == "dwp" else (nginx.url, spec_ngx)
        r = ctx.wrk(url, spec, 1, 3600, timeout=max(120.0, n / 50))
        _add(p50, name == "dwp", r.p50_ms)
        _add(p99, name == "dwp", r.p99_ms)
    ctx.run.notes.append("Cold reads: every object is read exactly once, so there is one "
                         "round; the OS page cache was not dropped (that would disturb "
                         "the other users of this machine), so 'cold' means not cached "
                         "by dwp or nginx themselves.")


# -- 3 durable writes -----------------------------------------------------------------

def durable_writes(ctx: Ctx, d: Dwp, etcd: Etcd) -> None:
    s = ctx.settings
    value = base64.b64encode(b"d" * KB10).decode()
    keys = tuple(base64.b64encode(f"bench/w/{i}".encode()).decode() for i in range(4096))
    etcd_put = wrk.Spec("POST", "/v3/kv/put", body=f'{{"key":"{{key}}","value":"{value}"}}',
                        headers=(("Content-Type", "application/json"),), keys=keys)
    get_key = base64.b64encode(b"bench/get").decode()
    etcd_get = wrk.Spec("POST", "/v3/kv/range", body=f'{{"key":"{get_key}"}}',
                        headers=(("Content-Type", "application/json"),))
    servers.etcd_put(etcd.url, "bench/get", b"d" * KB10)
    httpx.put(f"{d.url}/api/v1/objects/bench/get", content=b"d" * KB10, headers=d.auth,
              timeout=30).raise_for_status()
    dwp_get = wrk.Spec(path="/api/v1/objects/bench/get")
    rows = {
        ("put", s.connections): ctx.run.row(
            f"3 durable PUT 10 KB, {s.connections} clients, R=3", "req/s",
            "etcd 3 members, /v3/kv/put"),
        ("put", 1): ctx.run.row("3 durable PUT 10 KB, 1 client, R=3", "req/s", "etcd"),
        ("p50", 1): ctx.run.row("3 durable PUT 10 KB, 1 client, p50", "ms", "etcd"),
        ("get", 1): ctx.run.row("3 GET 10 KB, 1 client, p50", "ms",
                                "etcd /v3/kv/range (linearizable)"),
    }
    ctx.wrk(d.url, put_spec(d, "warm", KB10), s.connections, 2)
    ctx.wrk(etcd.url, etcd_put, s.connections, 2)
    for i in range(s.rounds):
        for name, _ in alternate(i, ("dwp", None), ("etcd", None)):
            dwp_side = name == "dwp"
            url = d.url if dwp_side else etcd.url
            for conc in (s.connections, 1):
                spec = put_spec(d, f"w{i}c{conc}", KB10) if dwp_side else etcd_put
                res = ctx.wrk(url, spec, conc, s.seconds if conc > 1 else s.latency_seconds)
                _add(rows[("put", conc)], dwp_side, res.rps)
                if conc == 1:
                    _add(rows[("p50", 1)], dwp_side, res.p50_ms)
            res = ctx.wrk(url, dwp_get if dwp_side else etcd_get, 1, s.latency_seconds)
            _add(rows[("get", 1)], dwp_side, res.p50_ms)
    run = ctx.run
    run.judge(f"durable PUT throughput at {s.connections} clients >= 2x etcd",
              rows[("put", s.connections)].ratio, "{:.2f}x etcd", lambda v: v >= 2.0)
    run.judge("single-client PUT p50 no slower than etcd's", rows[("p50", 1)].ratio,
              "{:.2f}x etcd's p50", lambda v: v <= 1.0)
    put_p50 = rows[("p50", 1)].base
    get_ratio = (rows[("get", 1)].dwp.median / put_p50.median) if put_p50 else None
    run.judge("single-client GET p50 at most half of etcd's PUT p50", get_ratio,
              "{:.2f}x etcd's PUT p50", lambda v: v <= 0.5,
              "read as: dwp GET p50 <= 0.5 x etcd PUT p50; the table also has etcd's GET")


EDIT_KEYS, EDITS = 50, 12  # the edit workload: 50 pages, each written 12 times
EDIT_GOAL = "overwrite PUT p50 at most 1.15x new-key PUT p50"


def edits(ctx: Ctx, d: Dwp) -> None:
    """One client overwrites 50 keys 12 times each (editing pages, whose kept history
    fills as it goes) and, in alternating rounds, writes as many new keys: a write's cost
    should not grow with the versions its key keeps."""
    s, n = ctx.settings, EDIT_KEYS * EDITS
    row = ctx.run.row(f"3 edit: PUT 10 KB over {EDIT_KEYS} keys {EDITS} times each, "
                      "1 client, p50", "ms", f"{n} new keys, same run",
                      note="R=3; the keys keep up to 9 earlier versions each")
    for i in range(s.rounds):
        for name, _ in alternate(i, ("edit", None), ("new", None)):
            spec = put_spec(d, f"{name}{i}", KB10, budget=n,
                            count=EDIT_KEYS if name == "edit" else 0)
            res = ctx.wrk(d.url, spec, 1, 3600, timeout=max(120.0, n / 10))
            _add(row, name == "edit", res.p50_ms)
    ctx.run.judge(EDIT_GOAL, row.ratio, "{:.2f}x new-key PUT p50", lambda v: v <= 1.15)


def _add(row: Row, dwp_side: bool, value: float) -> None:
    """One round's figure for dwp or for the baseline of ``row``."""
    metric = row.dwp if dwp_side else row.base
    assert metric is not None
    metric.samples.append(value)


# -- 4 publish ------------------------------------------------------------------------

def publish(ctx: Ctx, d: Dwp, replicas: int) -> None:
    s = ctx.settings
    site = ctx.workdir / "site"
    files, total = sitegen.generate(site, s.site_files, s.site_bytes)
    how = publish_command()
    row = ctx.run.row(f"4 publish {files:,} files, {total / 1e6:.0f} MB, nested, mixed sizes",
                      "MB/s", f"copy to {replicas} dirs, fsync per file",
                      note=f"dwp side: {how[1]}, {s.publish_jobs} in flight")
    for i in range(s.rounds):
        for name, _ in alternate(i, ("dwp", None), ("copy", None)):
            start = time.perf_counter()
            if name == "dwp":
                _publish_once(ctx, d, site, f"pub{i}", how)
            else:
                _copy_fsync(site, [ctx.workdir / f"copy{i}" / f"r{j}" for j in range(replicas)])
            seconds = time.perf_counter() - start
            _add(row, name == "dwp", total / 1e6 / seconds)
            if name == "copy":
                shutil.rmtree(ctx.workdir / f"copy{i}", ignore_errors=True)
    ctx.run.judge("publish throughput >= 50% of the fsync'd copy", row.ratio,
                  "{:.1%} of the copy", lambda v: v >= 0.5)


def publish_command() -> tuple[list[str] | None, str]:
    """``dwp publish`` if it runs, its module through typer if only the CLI is broken,
    else None (the httpx uploader stands in)."""
    probe = subprocess.run([sys.executable, "-c", "import browser_cli.publish"],
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        return None, "async httpx uploader (dwp publish not importable)"
    argv, label = servers.command("publish", "browser_cli.publish")
    return argv, label


def _publish_once(ctx: Ctx, d: Dwp, site: Path, name: str,
                  how: tuple[list[str] | None, str]) -> None:
    argv, _ = how
    if argv is None:
        asyncio.run(_upload_all(d, site, name, ctx.settings.publish_jobs))
        return
    full = [*argv, str(site), "--site", name, "--gateway", d.url, "--json",
            "--jobs", str(ctx.settings.publish_jobs)]
    ctx.run.command(" ".join(full[:2] if argv[0].endswith("dwp") else ["dwp", "publish"])
                    + f" <site dir> --site {name} --gateway <url> --json --jobs "
                    f"{ctx.settings.publish_jobs}")
    p = procs.start(f"publish-{name}", full, ctx.workdir / "logs" / f"publish-{name}.log",
                    env={**servers.dwp_env(ctx.workdir), "DWP_TOKEN": d.token})
    try:
        rc = p.proc.wait(600)
    finally:
        procs.stop(p)
    if rc != 0:
        raise RuntimeError(f"publish failed ({rc}); see {p.log}")


async def _upload_all(d: Dwp, site: Path, name: str, jobs: int) -> None:
    paths = sorted(p for p in site.rglob("*") if p.is_file())
    queue = list(reversed(paths))
    async with httpx.AsyncClient(base_url=d.url, headers=d.auth, timeout=120) as client:
        async def worker() -> None:
            while queue:
                path = queue.pop()
                key = f"{name}/{path.relative_to(site).as_posix()}"
                r = await client.put(f"/api/v1/objects/{quote(key)}", content=path.read_bytes())
                r.raise_for_status()
        await asyncio.gather(*(worker() for _ in range(jobs)))


def _copy_fsync(site: Path, targets: list[Path]) -> None:
    """What the disk can do: every file to each target dir, fsync'd file by file."""
    for src in sorted(p for p in site.rglob("*") if p.is_file()):
        rel = src.relative_to(site)
        data = src.read_bytes()
        for target in targets:
            dst = target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)


# -- 5 scale --------------------------------------------------------------------------

def stored_keys(d: Dwp) -> int:
    """Keys in the network: per shard, the fullest replica's count."""
    per_shard: dict[int, int] = {}
    for n in d.network()["nodes"]:
        per_shard[n["shard"]] = max(per_shard.get(n["shard"], 0), n.get("keys") or 0)
    return sum(per_shard.values())


DRIVER_FILL_FROM = 1_000_000  # fills this large go through bench.filler, not HTTP
DRIVER_IN_FLIGHT = 512


def fill_to(ctx: Ctx, d: Dwp, target: int, stage: int) -> None:
    """PUT small (100 B) values until the network holds ``target`` keys."""
    need = target - stored_keys(d)
    if need <= 0:
        return
    if target >= DRIVER_FILL_FROM:
        _driver_fill(ctx, d, target, stage, need)
        return
    row = ctx.run.row(f"5 fill to {target:,} keys: PUT 100 B, {ctx.settings.connections} "
                      "connections", "req/s")
    res = ctx.wrk(d.url, put_spec(d, f"fill{stage}", 100, budget=need),
                  ctx.settings.connections, 3600, timeout=max(120.0, need / 30))
    row.dwp.samples.append(res.rps)


def _driver_fill(ctx: Ctx, d: Dwp, target: int, stage: int, need: int) -> None:
    """The keys of a very large size through ``bench.filler`` (a Ray driver writing with
    many writes in flight): what is measured at that size is GET/PUT p50 and RSS, and
    the HTTP fill rate is the smaller fills' row."""
    row = ctx.run.row(f"5 fill to {target:,} keys: PUT 100 B from a Ray driver "
                      f"(NetworkClient, {DRIVER_IN_FLIGHT} in flight), not HTTP", "keys/s",
                      note="bench/filler.py; the per-node batcher packs the writes")
    argv = [sys.executable, "-m", "bench.filler", "--pid", str(d.proc.pid), "--data-dir",
            str(d.data_dir), "--prefix", f"fill{stage}", "--count", str(need),
            "--in-flight", str(DRIVER_IN_FLIGHT)]
    ctx.run.command(f"python -m bench.filler --pid <dwp up> --data-dir <scratch>/r2 "
                    f"--prefix fill{stage} --count {need} --in-flight {DRIVER_IN_FLIGHT}")
    p = procs.start(f"filler-{stage}", argv, ctx.workdir / "logs" / f"filler-{stage}.log",
                    env=servers.dwp_env(ctx.workdir))
    try:
        rc = p.proc.wait(max(600.0, need / 200))
    finally:
        procs.stop(p)
    if rc != 0:
        raise RuntimeError(f"the filler failed ({rc}); see {p.log}")
    done = json.loads(next(line for line in reversed(p.log.read_text().splitlines())
                           if line.startswith("{")))
    row.dwp.samples.append(done["keys"] / done["seconds"])


def scale_point(ctx: Ctx, d: Dwp, size: int, baseline: dict[str, float]) -> None:
    """p50 GET and PUT at one size; RSS and keys per storage node."""
    s = ctx.settings
    keys = stored_keys(d)
    get = ctx.run.row(f"5 GET 10 KB p50, 1 client, {keys:,} keys stored", "ms")
    put = ctx.run.row(f"5 PUT 10 KB p50, 1 client, {keys:,} keys stored", "ms")
    reads = wrk.Spec(path="/api/v1/objects/cold/{i}", count=s.cold_objects)
    for i in range(s.rounds):
        get.dwp.samples.append(ctx.wrk(d.url, reads, 1, s.latency_seconds).p50_ms)
        put.dwp.samples.append(
            ctx.wrk(d.url, put_spec(d, f"scale{size}r{i}", KB10), 1, s.latency_seconds).p50_ms)
    rss = ctx.run.row(f"5 RSS per storage node, {keys:,} keys stored", "MiB",
                      note=_rss_note(d))
    nodes = d.network()["nodes"]
    rss.dwp.samples.extend(v for n in nodes if (v := procs.rss_mib(n["pid"])) is not None)
    if not baseline:
        baseline.update(get=get.dwp.median, put=put.dwp.median, keys=keys)
    else:
        label = f"at {baseline['keys']:,.0f} keys"
        get.base, get.base_name = Metric("ms", [baseline["get"]]), label
        put.base, put.base_name = Metric("ms", [baseline["put"]]), label
    baseline.update(last_get=get.dwp.median, last_put=put.dwp.median, last_keys=keys,
                    max_rss=max(rss.dwp.samples, default=float("nan")),
                    max_node_keys=max((n.get("keys") or 0) for n in nodes))


def _rss_note(d: Dwp) -> str:
    nodes = d.network()["nodes"]
    return "per node: " + ", ".join(
        f"{n['id']} {n.get('keys') or 0:,} keys / "
        f"{procs.rss_mib(n['pid']) or float('nan'):.0f} MiB" for n in nodes)


# -- 7 streaming ----------------------------------------------------------------------

STREAM_GOAL = "the gateway's memory stays flat while a 1 GB file streams in or out"


def size_label(size: int) -> str:
    return f"{size / 1e9:g} GB" if size >= 10**9 else f"{size / 1e6:g} MB"


def streaming(ctx: Ctx, d: Dwp) -> stream.StreamResult:
    """A large body in and out through the gateway, its RSS sampled every 0.2 s."""
    size = ctx.settings.stream_bytes
    label = size_label(size)
    ctx.run.command(f"PUT {label} (generated, streamed, Content-Length set) to "
                    f"{d.url}/api/v1/objects/bench/stream.bin, then GET it streaming, "
                    "hashing both ways; RSS of the dwp up pid from /proc every 0.2 s")
    r = stream.measure(d, size, timeout=max(300.0, size / 2e6))
    run = ctx.run
    run.row(f"7 stream {label} in: PUT through the gateway, generated as it is sent",
            "MB/s", note=f"{r.up_seconds:.0f} s; R=2, fresh 4-node network"
            ).dwp.samples.append(size / 1e6 / r.up_seconds)
    run.row(f"7 stream {label} out: GET to /dev/null, BLAKE2b checked while streaming",
            "MB/s", note=f"{r.down_seconds:.0f} s; "
            + ("hash and size match the upload" if r.verified else "HASH OR SIZE MISMATCH")
            ).dwp.samples.append(size / 1e6 / r.down_seconds)
    base = Metric("MiB", [r.baseline_mib])
    run.row("7 gateway RSS, idle before the upload", "MiB",
            note=f"{r.samples} samples in all, every {stream.SAMPLE_EVERY} s"
            ).dwp.samples.append(r.baseline_mib)
    up = run.row("7 gateway RSS, peak during the upload", "MiB", "idle baseline",
                 note=f"{r.up_peak_mib - r.baseline_mib:+.0f} MiB")
    up.dwp.samples.append(r.up_peak_mib)
    up.base = base
    down = run.row("7 gateway RSS, peak during the download", "MiB", "idle baseline",
                   note=f"{r.down_peak_mib - r.baseline_mib:+.0f} MiB over idle; "
                   f"{r.down_peak_mib - r.before_down_mib:+.0f} MiB over the "
                   f"{r.before_down_mib:.0f} MiB it settled at after the upload; "
                   f"{r.after_mib:.0f} MiB after")
    down.dwp.samples.append(r.down_peak_mib)
    down.base = base
    allowed = stream.SLACK_MIB + stream.CACHE_MIB
    grew = r.growth_mib if r.verified else float("nan")
    run.judge(STREAM_GOAL, grew,
              f"peak {{:+.0f}} MiB over idle while {label} streamed (upload peak "
              f"{r.up_peak_mib:.0f} MiB, download peak {r.down_peak_mib:.0f} MiB, idle "
              f"{r.baseline_mib:.0f} MiB)", lambda v: v < allowed,
              f"flat = peak under idle + {stream.SLACK_MIB} MiB + the "
              f"{stream.CACHE_MIB} MiB chunk cache"
              + ("" if r.verified else "; the bytes did not come back intact")
              + ("" if size >= 10**9 else f"; only {label} in this run"))
    return r
