"""Writing docs/benchmarks.md from one run: machine, commands, table, targets, notes."""

from __future__ import annotations

import math
import time
from pathlib import Path

from bench.results import Metric, Run

FINDINGS = Path(__file__).with_name("findings.md")  # profiling notes, kept by hand


def _num(v: float) -> str:
    if math.isnan(v):
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _metric(m: Metric | None) -> str:
    if m is None or not m.samples:
        return "-"
    spread = f" ({_num(min(m.samples))}-{_num(max(m.samples))})" if len(m.samples) > 1 else ""
    return f"{_num(m.median)} {m.unit}{spread}"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def render(run: Run, title_note: str) -> str:
    out = ["# Benchmarks", "",
           "Written by `make bench` (`python -m bench`, the harness in `bench/`). Every "
           "ratio compares dwp with its baseline **in the same run on the same machine**, "
           "rounds alternating between the two; medians over rounds, the range in "
           "brackets. Absolute numbers from different runs are not comparable: this "
           "machine is shared and noisy.", "", title_note, "", "## Machine", ""]
    out += [f"- **{k}**: {v}" for k, v in run.facts.items()]
    out += ["", "## Results", "",
            "| workload | dwp | baseline | baseline median | dwp / baseline |",
            "|---|---|---|---|---|"]
    for r in run.rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        label = r.workload + (f" <br><sub>{r.note}</sub>" if r.note else "")
        out.append(f"| {label} | {_metric(r.dwp)} | {r.base_name or '-'} | "
                   f"{_metric(r.base)} | {ratio} |")
    out += ["", "## Targets (issue 6)", "", "| target | measured | verdict | note |",
            "|---|---|---|---|"]
    for t in run.targets:
        out.append(f"| {t.goal} | {t.measured} | {_verdict(t.met)} | {t.note} |")
    out += ["", "## Notes", ""] + [f"- {n}" for n in run.notes]
    out += ["", FINDINGS.read_text().strip()] if FINDINGS.exists() else []
    out += ["", "## Exact commands", "", "```", *run.commands, "```", ""]
    return "\n".join(out)


def write(run: Run, path: Path, title_note: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    path.write_text(render(run, f"{title_note} Run finished {stamp}."))
