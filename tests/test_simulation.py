"""The deterministic simulator (``tests/simulation``): a directed story per rule, and 500
seeds of clients, faults, crashes, power and disk loss, duplicated and late messages,
slow nodes, coordinator deaths and view changes that change the shard count, each
checked against every invariant at every step and at the end. A failure names the
command that replays it."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from tests.simulation.run import Scenario, replay_command, simulate
from tests.simulation.stories import STORIES, replay_story, tell

SEEDS = range(1, 501)
run = functools.cache(simulate)  # a seed's run is the same each time: tests share it


def test_five_hundred_seeds_keep_every_invariant() -> None:
    failures = []
    for seed in SEEDS:
        violations, _ = run(seed)
        if violations:
            failures.append(f"seed {seed} ({replay_command(seed)}): {violations[:3]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_story_keeps_its_rule(name: str) -> None:
    violations, _ = tell(name)
    assert not violations, f"{replay_story(name)}:\n" + "\n".join(violations[:5])


def test_a_seed_replays_exactly() -> None:
    assert simulate(434) == run(434)


def test_the_seeds_cover_shard_count_changes_and_coordinator_deaths() -> None:
    scenarios = [Scenario.of(seed) for seed in SEEDS]
    assert any(s.nodes == 5 and s.changes.count("join") >= 1 for s in scenarios)
    assert sum("leave" in s.changes for s in scenarios) > 100
    assert sum(s.back_to_back and len(s.changes) > 1 for s in scenarios) > 50
    logs = [run(seed)[1] for seed in range(1, 41)]
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
