"""The deterministic simulator (``tests/simulation``): a directed story per rule, and 140
seeds a run of clients, faults, crashes, power and disk loss, duplicated and late
messages, slow nodes, coordinator deaths and view changes that change the shard count,
each checked against every invariant at every step and at the end. A failure names the
command that replays it.

The seeds: 1-40 every run, and a window of 100 more that moves on each day and comes
back after a fortnight (41-140 on one day, 141-240 the next, ... 1341-1440), printed
with the command that runs it again. Any 14 days check 1,440 distinct seeds, where a
fixed 1-500 checked 500; ``make sim`` runs 5,000."""

from __future__ import annotations

import datetime
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulation.run import Scenario, replay_command, simulate
from tests.simulation.stories import STORIES, replay_story, tell

EVERY_RUN = range(1, 41)  # the seeds whose logs the coverage test reads, too
WINDOW, DAYS = 100, 14  # seeds a day beyond those; days before a window comes back
CHUNK = 20  # seeds a test: the chunks spread over pytest-xdist's workers
FIRST_SEEDS = pytest.mark.xdist_group("simulator-seeds-1-40")  # one worker runs them once
run = functools.cache(simulate)  # a seed's run is the same each time: tests share it


def window(day: datetime.date) -> range:
    start = EVERY_RUN.stop + day.toordinal() % DAYS * WINDOW
    return range(start, start + WINDOW)


def seeds_of(day: datetime.date) -> list[int]:
    return [*EVERY_RUN, *window(day)]


CHUNKS = [pytest.param(i, marks=FIRST_SEEDS) if i * CHUNK < len(EVERY_RUN) else i
          for i in range(len(seeds_of(datetime.date.today())) // CHUNK)]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_the_seeds_of_the_day_keep_every_invariant(chunk: int) -> None:
    day = datetime.date.today()
    today = window(day)
    print(f"seeds for {day}: 1-{EVERY_RUN.stop - 1} and {today.start}-{today.stop - 1}; the "
          f"window again: python -m tests.simulation --first {today.start} --seeds {WINDOW}")
    failures = []
    for seed in seeds_of(day)[chunk * CHUNK:(chunk + 1) * CHUNK]:
        violations, _ = run(seed)
        if violations:
            failures.append(f"seed {seed} ({replay_command(seed)}): {violations[:3]}")
    assert not failures, "\n".join(failures)


def test_a_fortnight_of_windows_covers_every_seed_up_to_1440_once() -> None:
    first = datetime.date(2026, 1, 1)
    seen = [s for d in range(DAYS) for s in window(first + datetime.timedelta(days=d))]
    assert sorted(seen) == list(range(EVERY_RUN.stop, EVERY_RUN.stop + DAYS * WINDOW))
    assert len(seeds_of(first)) % CHUNK == 0  # the chunks leave no seed out


@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_story_keeps_its_rule(name: str) -> None:
    violations, _ = tell(name)
    assert not violations, f"{replay_story(name)}:\n" + "\n".join(violations[:5])


def test_a_seed_replays_exactly() -> None:
    assert simulate(434) == run(434)


@FIRST_SEEDS
def test_the_seeds_cover_shard_count_changes_and_coordinator_deaths() -> None:
    """On every day of the fortnight; and the logs of the seeds every run checks."""
    first = datetime.date(2026, 1, 1)
    for day in (first + datetime.timedelta(days=d) for d in range(DAYS)):
        scenarios = [Scenario.of(seed) for seed in seeds_of(day)]
        assert any(s.nodes == 5 and s.changes.count("join") >= 1 for s in scenarios)
        assert sum("leave" in s.changes for s in scenarios) > len(scenarios) / 5
        assert sum(s.back_to_back and len(s.changes) > 1 for s in scenarios) > len(
            scenarios) / 10
    logs = [run(seed)[1] for seed in EVERY_RUN]
    assert any("coordinator died" in line for log in logs for line in log)
    assert any("-> epoch 3" in line for log in logs for line in log)
    for fault in ("slow", "dup", "power", "gc (prepare)", "gc (import)", "gc (commit)"):
        assert any(fault in line for log in logs for line in log), fault


def test_the_documented_commands_run_as_written() -> None:
    """`make sim SEEDS=N` (README) and the replay command a failure prints."""
    root = Path(__file__).resolve().parent.parent
    made = subprocess.run(["make", "sim", "SEEDS=3"], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert made.returncode == 0 and "3 passed, 0 failed" in made.stdout, made.stdout
    replay = subprocess.run([sys.executable, *replay_command(434).split()[1:]], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0 and "scenario: Scenario(seed=434" in replay.stdout
    assert "1 passed, 0 failed" in replay.stdout
    story = "a_prepared_view_stays_invisible"
    told = subprocess.run([sys.executable, *replay_story(story).split()[1:]], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert told.returncode == 0 and f"story: {story}" in told.stdout, told.stdout
    killed = subprocess.run([sys.executable, "-m", "tests.mutants", "--only",
                             "gossip-prepared-view", "--story", story, "-v"], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 1 and "0 passed, 1 failed" in killed.stdout, killed.stdout
