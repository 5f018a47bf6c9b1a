"""``python -m tests.mutants [--only NAME] [--sample N [--rotate KEY]] [--seeds N]``:
apply each rule mutant to a copy of the tree and run the simulator's stories, then its
seeds, there until one fails; report which mutants survive. ``--only NAME --seed S -v``
(or ``--story NAME``) replays the run that killed a mutant, with its log.

``--sample N`` runs N of them, chosen by ``--rotate`` (default: today's date), so that
runs on successive days cover them all; the choice is printed, to be replayed."""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("dwp", "tests", "pyproject.toml")
SEEDS = 100  # seeds a mutant must survive after the stories (make mutants)
RUN_TIMEOUT = 1800.0


class MutantError(RuntimeError):
    """A mutant that no longer applies: its snippet is not in its file exactly once."""


@dataclass
class Outcome:
    mutant: Mutant
    killed_by: str  # "story NAME" or "seed N", or "" if it survived
    detail: str
    seconds: float

    @property
    def replay(self) -> str:
        kind, _, which = self.killed_by.partition(" ")
        flag = "--story" if kind == "story" else "--seed"
        return f"python -m tests.mutants --only {self.mutant.name} {flag} {which} -v"


def apply(mutant: Mutant, root: Path) -> None:
    """Change the copy at ``root``: the snippet must occur exactly once."""
    target = root / mutant.path
    if not target.exists():
        raise MutantError(f"mutant {mutant.name}: {mutant.path} does not exist")
    text = target.read_text()
    found = text.count(mutant.snippet)
    if found != 1:
        raise MutantError(f"mutant {mutant.name}: its snippet occurs {found} times in "
                          f"{mutant.path} (it must occur once):\n{mutant.snippet}")
    target.write_text(text.replace(mutant.snippet, mutant.replacement))


def copy_tree(into: Path, source_root: Path = ROOT) -> None:
    for name in COPIED:
        source = source_root / name
        if source.is_dir():
            shutil.copytree(source, into / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, into / name)


def simulate(root: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m tests.simulation ARGS`` in the copy, importing the copy's code."""
    return subprocess.run([sys.executable, "-m", "tests.simulation", *args], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


def run(mutant: Mutant, seeds: int, tree: Path = ROOT, stories: bool = True) -> Outcome:
    """One mutant applied to a copy of ``tree`` (the repository, or a snapshot of it
    taken when a run of many began, so edits meanwhile change none of them)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as folder:
        root = Path(folder)
        copy_tree(root, tree)
        apply(mutant, root)
        done = simulate(root, [*(["--stories"] if stories else []), "--seeds", str(seeds),
                               "--stop-first"])
    killed_by, detail = "", ""
    for line in done.stdout.splitlines():
        if line.startswith(("story ", "seed ")) and "violation" in line:
            killed_by = " ".join(line.split(":")[0].split()[:2])
            detail = line
        elif killed_by and line.startswith("  ") and detail.count("\n") < 3:
            detail += "\n" + line
    if done.returncode != 0 and not killed_by:
        killed_by, detail = "crash", (done.stderr.strip().splitlines() or ["?"])[-1]
    return Outcome(mutant, killed_by, detail, time.perf_counter() - started)


def baseline_passes(tree: Path) -> bool:
    """The stories pass on the tree as it is: else every mutant would look killed."""
    done = simulate(tree, ["--stories", "--seeds", "0"])
    if done.returncode != 0:
        print(f"the stories fail without any mutant, so no mutant can be judged:\n"
              f"{done.stdout}")
    return done.returncode == 0


def sample(count: int, key: str) -> list[Mutant]:
    """``count`` mutants in a row, starting where ``key`` (a date) says: successive days
    start ``count`` further on, so all of them run over a few days."""
    day = datetime.date.fromisoformat(key).toordinal()
    start = (day * count) % len(MUTANTS)
    return [MUTANTS[(start + i) % len(MUTANTS)] for i in range(min(count, len(MUTANTS)))]


def replay(mutant: Mutant, args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as folder:
        root = Path(folder)
        copy_tree(root)
        apply(mutant, root)
        done = simulate(root, args)
    print(done.stdout, end="")
    if done.returncode and not done.stdout.strip():
        print(done.stderr, end="")
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants")
    parser.add_argument("--only", choices=[m.name for m in MUTANTS], help="one mutant")
    parser.add_argument("--sample", type=int, help="run this many, chosen by --rotate")
    parser.add_argument("--rotate", default=datetime.date.today().isoformat(),
                        help="which sample (a date, YYYY-MM-DD; default today)")
    parser.add_argument("--seeds", type=int, default=SEEDS,
                        help="seeds each mutant must survive after the stories")
    parser.add_argument("--seeds-only", action="store_true",
                        help="run the seeds alone, not the stories first")
    parser.add_argument("--seed", type=int, help="with --only: replay this seed")
    parser.add_argument("--story", help="with --only: replay this story")
    parser.add_argument("-v", "--verbose", action="store_true", help="with a replay: the log")
    args = parser.parse_args()
    if args.only and (args.seed is not None or args.story):
        mutant = next(m for m in MUTANTS if m.name == args.only)
        what = ["--seed", str(args.seed)] if args.seed is not None else ["--story", args.story]
        return replay(mutant, what + (["-v"] if args.verbose else []))
    chosen = MUTANTS
    if args.only:
        chosen = [m for m in MUTANTS if m.name == args.only]
    elif args.sample:
        chosen = sample(args.sample, args.rotate)
        print(f"mutants for {args.rotate} ({len(chosen)} of {len(MUTANTS)}): "
              f"{', '.join(m.name for m in chosen)}; this sample again: "
              f"python -m tests.mutants --sample {args.sample} --rotate {args.rotate}")
    with tempfile.TemporaryDirectory(prefix="mutants-tree-") as folder:
        tree = Path(folder)
        copy_tree(tree)
        if not baseline_passes(tree):
            return 2
        return report(chosen, args.seeds, tree, not args.seeds_only)


def report(chosen: list[Mutant], seeds: int, tree: Path, stories: bool) -> int:
    """Run each mutant and print how it ended as it ends; 1 if any survived."""
    survived = 0
    for mutant in chosen:
        outcome = run(mutant, seeds, tree, stories)
        if outcome.killed_by:
            print(f"killed   {mutant.name:36} by {outcome.killed_by:60} "
                  f"{outcome.seconds:6.1f}s  replay: {outcome.replay}", flush=True)
        else:
            survived += 1
            print(f"SURVIVED {mutant.name:36} ({mutant.rule}) {outcome.seconds:.1f}s",
                  flush=True)
    print(f"{len(chosen) - survived} passed, {survived} failed: "
          f"{len(chosen) - survived} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
