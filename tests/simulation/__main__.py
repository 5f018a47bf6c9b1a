"""``python -m tests.simulation [--seeds N] [--first S] [--seed S -v]``: run seeded
simulations and print each failing seed with the command that replays it."""

from __future__ import annotations

import argparse
import sys
import time

from tests.simulation.run import replay_command, simulate


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation")
    parser.add_argument("--seeds", type=int, default=500, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--seed", type=int, help="run this one seed only")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the event log")
    args = parser.parse_args()
    seeds = [args.seed] if args.seed is not None else range(args.first,
                                                            args.first + args.seeds)
    failed, started = 0, time.perf_counter()
    for seed in seeds:
        violations, log = simulate(seed)
        if args.verbose:
            print("\n".join(log))
        if violations:
            failed += 1
            print(f"seed {seed}: {len(violations)} violation(s); replay: "
                  f"{replay_command(seed)}")
            for v in violations[:10]:
                print(f"  {v}")
    count = len(seeds)
    print(f"{count - failed} passed, {failed} failed in {time.perf_counter() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
