"""The rule mutants (``tests/mutants``): each applies to the tree as it is, a snippet
that is not found is an error, and a rotating sample of them (chosen by the date, and
printed) must be killed by the simulator; ``make mutants`` runs them all."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from tests.mutants import MUTANTS, Mutant
from tests.mutants.__main__ import ROOT, MutantError, apply, run, sample

CI_SAMPLE = 2  # mutants per run of the suite: every one of 33 runs within 17 days
CI_SEEDS = 20  # seeds each runs after the stories


def test_every_mutant_applies_to_the_tree_once(tmp_path: Path) -> None:
    for mutant in MUTANTS:
        target = tmp_path / mutant.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / mutant.path).read_text())
        apply(mutant, tmp_path)
        assert mutant.replacement in target.read_text()
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


def test_a_mutant_whose_snippet_is_gone_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "dwp" / "core").mkdir(parents=True)
    (tmp_path / "dwp" / "core" / "replica.py").write_text("moved elsewhere\n")
    gone = Mutant("gone", "a rule", "dwp/core/replica.py", "if False:", "if True:")
    with pytest.raises(MutantError, match="occurs 0 times"):
        apply(gone, tmp_path)
    with pytest.raises(MutantError, match="does not exist"):
        apply(Mutant("moved", "a rule", "dwp/replica.py", "x", "y"), tmp_path)


def test_successive_days_sample_every_mutant() -> None:
    day = datetime.date(2026, 1, 1)
    seen = {m.name for i in range(len(MUTANTS)) for m in
            sample(CI_SAMPLE, (day + datetime.timedelta(days=i)).isoformat())}
    assert seen == {m.name for m in MUTANTS}


def test_todays_sample_of_mutants_is_killed() -> None:
    key = datetime.date.today().isoformat()
    chosen = sample(CI_SAMPLE, key)
    print(f"mutants for {key}: {[m.name for m in chosen]}")
    survivors = [m.name for m in chosen if not run(m, CI_SEEDS).killed_by]
    assert not survivors, (f"survived: {survivors}; this sample again: python -m "
                           f"tests.mutants --sample {CI_SAMPLE} --rotate {key}")


def test_architecture_lists_each_mutant_with_its_rule_and_a_story_that_exists() -> None:
    from tests.simulation.stories import STORIES

    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = doc.split("| rule | mutant | killed first by the story |\n|---|---|---|\n")[1]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in table.split("\n\n")[0].splitlines()]
    assert {(name, rule) for rule, name, _ in rows} == {(m.name, m.rule) for m in MUTANTS}
    assert len(rows) == len(MUTANTS)
    assert {story for _, _, story in rows} <= set(STORIES)
