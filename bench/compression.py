"""``python -m bench.compression``: what gzip on the fly would cost the gateway per
request for a 1 MB ``search_index.json``, beside serving its stored ``.gz`` sibling.

The gateway sends stored siblings and compresses nothing itself (docs/web.md); this is
the measurement behind that. It times, on this machine, ``gzip.compress`` of the file
at the levels servers use (1, Starlette's GZipMiddleware default 9, and nginx's usual
6), and a whole GET of the file through the gateway app in process (routing, the
read, the sibling lookups, the body) with ``Accept-Encoding: gzip`` (the sibling sent)
and without (the file sent). Medians of ``ROUNDS`` calls. The section it writes goes
into bench/findings.md, which every docs/benchmarks.md render includes, and into
docs/benchmarks.md itself.
"""

from __future__ import annotations

import gzip
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway import GatewaySettings, Network, create_app
from tests.inprocess import URL, PortalTransport, in_process_network

ROUNDS = 20
SIZE = 1_000_000
REPO = Path(__file__).resolve().parent.parent
HEADING = "## Compression: gzip on the fly against a stored sibling (issue 24)"
COMMANDS = "## Exact commands"
TARGETS = (REPO / "bench" / "findings.md", REPO / "docs" / "benchmarks.md")


def search_index(size: int = SIZE) -> bytes:
    """A MkDocs-shaped search index of about ``size`` bytes, its text the paragraphs of
    this repository's docs (as MkDocs would index them), repeated with the section
    numbers of a larger site. The same bytes for the same docs."""
    paragraphs = [p.strip() for path in sorted((REPO / "docs").glob("*.md"))
                  if not path.name.startswith("benchmarks")
                  for p in path.read_text().split("\n\n") if p.strip()]
    docs, total = [], 0
    while total < size:
        text = paragraphs[len(docs) % len(paragraphs)]
        doc = {"location": f"section-{len(docs)}/#part-{len(docs) % 7}",
               "title": text.split("\n")[0][:60], "text": text}
        docs.append(doc)
        total += len(json.dumps(doc)) + 2
    return json.dumps({"config": {"lang": ["en"], "separator": "[\\s\\-]+"},
                       "docs": docs}).encode()


def median_seconds(call: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sent(h: httpx.Client, path: str, headers: dict[str, str]) -> bytes:
    """The body as the gateway sent it: the client does not decompress it (that would
    be the reader's cost, timed here as the gateway's)."""
    with h.stream("GET", path, headers=headers) as r:
        return b"".join(r.iter_raw())


def measure() -> dict[str, float]:
    data = search_index()
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    figures = {"bytes": len(data), "gz_bytes": len(packed)}
    for level in (1, 6, 9):
        figures[f"gzip{level}"] = median_seconds(
            lambda level=level: gzip.compress(data, compresslevel=level))
    with tempfile.TemporaryDirectory() as tmp, in_process_network(Path(tmp)) as network:
        app = create_app([Network(network.client, network.secret, network.membership)],
                         GatewaySettings(gc_interval=0))
        auth = {"Authorization": f"Bearer {network.secret}"}
        with httpx.Client(base_url=URL, transport=PortalTransport(app, network.portal),
                          timeout=60) as h:
            for key, body in (("bench/search_index.json", data),
                              ("bench/search_index.json.gz", packed)):
                h.put(f"/api/v1/objects/{key}", content=body, headers=auth).raise_for_status()
            site = {"Host": "bench.localhost"}
            for name, accept in (("serve_gz", "gzip"), ("serve_plain", "identity")):
                r = h.get("/search_index.json", headers={**site, "Accept-Encoding": accept})
                assert r.status_code == 200 and r.content == data, r.status_code
                figures[name] = median_seconds(lambda accept=accept: sent(
                    h, "/search_index.json", {**site, "Accept-Encoding": accept}))
    return figures


def section(f: dict[str, float]) -> str:
    ms = {k: v * 1000 for k, v in f.items() if not k.endswith("bytes")}
    return "\n".join([
        HEADING, "",
        f"Written by `python -m bench.compression` ({time.strftime('%Y-%m-%d')}; medians "
        f"of {ROUNDS} calls on this 2-core machine, shared with other test runs). A "
        f"{f['bytes'] / 1e6:.2f} MB MkDocs-shaped `search_index.json` (the text of this "
        f"repository's docs) gzips (level 9) to "
        f"{f['gz_bytes'] / 1e3:.0f} kB ({f['bytes'] / f['gz_bytes']:.1f}x smaller).", "",
        "| Per request | ms | against serving the stored `.gz` |",
        "| --- | ---: | ---: |",
        f"| GET through the gateway app, the stored `.gz` sent | {ms['serve_gz']:.1f} | 1.0x |",
        f"| GET through the gateway app, the file sent whole | {ms['serve_plain']:.1f} "
        f"| {ms['serve_plain'] / ms['serve_gz']:.1f}x |",
        *(f"| `gzip.compress` level {level} alone (what on-the-fly gzip adds) "
          f"| {ms[f'gzip{level}']:.1f} | {ms[f'gzip{level}'] / ms['serve_gz']:.1f}x |"
          for level in (1, 6, 9)),
        "",
        "On-the-fly gzip would add the compression to every request of the file (a "
        "browser revalidates with a 304, but every new reader and every changed index "
        "pays it) on the gateway's event loop or a thread of its 2 cores, where serving "
        "the stored sibling costs a lookup the read cache answers. So the gateway sends "
        "stored siblings only (`dwp publish --compress`) and compresses nothing itself.",
        ""])


def write(text: str) -> None:
    """Put ``text`` in each target in place of its previous version, else at the end of
    the findings (before the commands, where a render of the report puts them)."""
    for path in TARGETS:
        old = path.read_text() if path.exists() else ""
        start = old.find(HEADING)
        if start < 0:
            cut = old.find(COMMANDS)
            cut = len(old.rstrip("\n")) if cut < 0 else cut
            new = old[:cut].rstrip("\n") + "\n\n" + text + (
                "\n" + old[cut:] if cut < len(old) else "")
        else:
            end = old.find("\n## ", start + len(HEADING))
            new = old[:start] + text + (old[end + 1:] if end >= 0 else "")
        path.write_text(new)


def main() -> None:
    figures = measure()
    write(section(figures))
    print(section(figures))


if __name__ == "__main__":
    main()
