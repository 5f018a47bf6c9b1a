"""``python -m bench --profile``: where dwp spends its time on the hot paths.

py-spy (installed into the venv by hand, not a project dependency) samples the gateway
and the storage nodes while wrk drives a hot-page GET load and a 10 KB PUT load (R=2,
32 connections), then one client's 10 KB PUTs at R=3 (every node a replica, so every
node is sampled); the collapsed stacks are summed per function (self and inclusive)
into a text summary.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from bench import procs, servers, sitegen, wrk
from bench.workloads import site_host

SECONDS = 12
RATE = 250


def _spy(name: str, pid: int, out: Path) -> procs.Started:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [exe, "record", "--pid", str(pid), "--duration", str(SECONDS), "--rate",
            str(RATE), "--format", "raw", "--nonblocking", "--output", str(out)]
    return procs.start(f"py-spy-{name}", argv, out.with_suffix(".log"))


def _frame(frame: str) -> str:
    """``func (file.py:123)`` -> ``func (dir/file.py)``: lines merged, path shortened."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})"


def summarize(raw: Path, top: int = 22) -> str:
    """Self and inclusive sample shares per function, from py-spy's raw output."""
    selfs: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        total += n
        if frames:
            selfs[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return f"{raw.name}: no samples\n"
    out = [f"== {raw.stem}: {total} samples (idle threads excluded)", "-- self"]
    out += [f"{n / total:6.1%}  {f}" for f, n in selfs.most_common(top)]
    out += ["-- inclusive"]
    out += [f"{n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out) + "\n"


def _phase(d: servers.Dwp, name: str, spec: wrk.Spec, pids: dict[str, int], out: Path,
           connections: int = 32) -> str:
    spies = {who: _spy(f"{name}-{who}", pid, out / f"{name}-{who}.txt")
             for who, pid in pids.items()}
    res = wrk.run(d.url, spec, connections=connections, seconds=SECONDS, workdir=out)
    text = [f"### {name}: {res.rps:.0f} req/s, p50 {res.p50_ms:.1f} ms, errors {res.errors}"]
    for who, spy in spies.items():
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.proc.wait(SECONDS + 30)
        procs.stop(spy)
        raw = out / f"{name}-{who}.txt"
        text.append(summarize(raw) if raw.exists() else f"{who}: no profile ({spy.log})")
    return "\n".join(text)


def _single_client_r3(workdir: Path, out: Path) -> str:
    """One client's 10 KB PUTs at R=3 on 4 nodes: the gateway and every node sampled."""
    d = servers.start_dwp(workdir, "prof3", 4, 3)
    try:
        pids = {"gateway": d.proc.pid,
                **{f"node-{n['id']}": n["pid"] for n in d.network()["nodes"]}}
        return _phase(d, "put-10k-1-client-r3", wrk.Spec(
            "PUT", "/api/v1/objects/prof3/{i}", body_size=10 * 1024,
            headers=(("Authorization", f"Bearer {d.token}"),)), pids, out, connections=1)
    finally:
        servers.stop_dwp(d)


def main(workdir: Path, out: Path | None = None) -> None:
    """Profile into ``out`` (a fresh temp dir by default: it outlives the scratch dir)."""
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="dwp-bench-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    d = servers.start_dwp(workdir, "prof", 4, 2)
    try:
        body = sitegen.page()
        r = httpx.put(f"{d.url}/api/v1/objects/bench/page.html", content=body,
                      headers={**d.auth, "Content-Type": "text/html"}, timeout=30)
        r.raise_for_status()
        host = site_host(d.url, "bench")
        serving = httpx.get(f"{d.url}/page.html", headers=dict(host)).headers.get(
            "x-dwp-node", "")
        nodes = {n["id"]: n["pid"] for n in d.network()["nodes"]}
        shard_of = {n["id"]: n["shard"] for n in d.network()["nodes"]}
        peers = [n for n in nodes if shard_of[n] == shard_of.get(serving) and n != serving]
        get_pids = {"gateway": d.proc.pid, f"node-{serving}": nodes[serving]}
        put_pids = {"gateway": d.proc.pid, f"node-{serving}": nodes[serving],
                    **{f"peer-{p}": nodes[p] for p in peers[:1]}}
        report = [_phase(d, "get-hot-page", wrk.Spec(path="/page.html", headers=host),
                         get_pids, out),
                  _phase(d, "put-10k", wrk.Spec(
                      "PUT", "/api/v1/objects/prof/{i}", body_size=10 * 1024,
                      headers=(("Authorization", f"Bearer {d.token}"),)), put_pids, out)]
    finally:
        servers.stop_dwp(d)
    report.append(_single_client_r3(workdir, out))
    text = "\n\n".join(report)
    (out / "summary.txt").write_text(text)
    print(text)
    print(f"\nraw stacks and summary in {out}", file=sys.stderr)
