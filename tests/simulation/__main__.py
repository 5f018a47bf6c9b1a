"""``python -m tests.simulation [--stories] [--seeds N] [--first S] [--stop-first]``,
``--seed S -v`` or ``--story NAME -v``: run the directed stories and seeded simulations
and print each failure with the command that replays it."""

from __future__ import annotations

import argparse
import sys
import time

from tests.simulation.run import replay_command, simulate
from tests.simulation.stories import STORIES, replay_story, tell


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation")
    parser.add_argument("--seeds", type=int, default=500, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=1, help="the first seed")
    parser.add_argument("--seed", type=int, help="run this one seed only")
    parser.add_argument("--stories", action="store_true",
                        help="run every directed story before the seeds")
    parser.add_argument("--story", choices=sorted(STORIES), help="run this one story only")
    parser.add_argument("--stop-first", action="store_true",
                        help="stop at the first failing story or seed")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the event log")
    args = parser.parse_args()
    runs: list[tuple[str, str]] = []
    if args.story is not None:
        runs = [("story", args.story)]
    elif args.seed is not None:
        runs = [("seed", str(args.seed))]
    else:
        runs = [("story", n) for n in STORIES] if args.stories else []
        runs += [("seed", str(s)) for s in range(args.first, args.first + args.seeds)]
    done, failed, started = 0, 0, time.perf_counter()
    for kind, name in runs:
        done += 1
        if kind == "story":
            violations, log = tell(name)
            replay = replay_story(name)
        else:
            violations, log = simulate(int(name))
            replay = replay_command(int(name))
        if args.verbose:
            print("\n".join(log))
        if violations:
            failed += 1
            print(f"{kind} {name}: {len(violations)} violation(s); replay: {replay}")
            for v in violations[:10]:
                print(f"  {v}")
            if args.stop_first:
                break
    print(f"{done - failed} passed, {failed} failed in {time.perf_counter() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
