"""``python -m tests.chaos``: run the campaign and write docs/reliability.md."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.campaign import Result, run
from tests.chaos.cluster import chaos_net, ray_cluster
from tests.chaos.nemesis import KINDS
from tests.chaos.report import render

ALL = [*KINDS, "mixed"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=12.0, help="load per run")
    parser.add_argument("--seeds", default="1,2", help="comma-separated seeds")
    parser.add_argument("--nemesis", default="all", help=f"comma-separated of {ALL}")
    parser.add_argument("--out", default="docs/reliability.md")
    args = parser.parse_args(argv)
    kinds = ALL if args.nemesis == "all" else args.nemesis.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    results: list[Result] = []
    started = time.monotonic()
    with ray_cluster() as runtime, tempfile.TemporaryDirectory(prefix="dwp-chaos-") as tmp:
        for kind in kinds:
            for seed in seeds:
                data_dir = Path(tmp) / f"{kind}-{seed}"
                with chaos_net(runtime, data_dir, f"chaos-{kind}-{seed}") as net:
                    result = run(net, kind, seed, args.seconds)
                results.append(result)
                v = result.verdict
                print(f"{kind:9} seed {seed}: {v.ops} ops, {v.acked_writes} acked, "
                      f"lost {v.lost}, unexpected {v.unexpected}, stale {v.stale}, "
                      f"resurrected {v.resurrected}, duplicate deletes "
                      f"{v.duplicate_deletes}, lost with disk {v.lost_with_disk}, "
                      f"converged in {result.convergence}s", flush=True)
                for line in [*result.faults, *v.examples][:30]:
                    print(f"    {line}", flush=True)
    command = (f"--seconds {args.seconds:g} --seeds {args.seeds} --nemesis {args.nemesis}, "
               f"{time.monotonic() - started:.0f} s in all")
    Path(args.out).write_text(render(results, command))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
