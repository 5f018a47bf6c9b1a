"""Measurements as the report needs them: samples per round, medians, ratios, targets."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Metric:
    """One quantity measured once per round (its median is what the table shows)."""

    unit: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


@dataclass
class Row:
    """One line of the results table: dwp against its baseline, in the same run."""

    workload: str
    dwp: Metric
    base: Metric | None = None
    base_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.base is None or not self.base.median:
            return None
        return self.dwp.median / self.base.median


@dataclass
class Target:
    """A goal from issue 6, the measured figure it is judged on, and the verdict."""

    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


@dataclass
class Run:
    """Everything one harness run collects for the report."""

    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    title: str = ""  # the line under the heading: which mode, how long, when

    def row(self, workload: str, unit: str, base_name: str = "", note: str = "") -> Row:
        r = Row(workload, Metric(unit), Metric(unit) if base_name else None, base_name, note)
        self.rows.append(r)
        return r

    def command(self, text: str) -> None:
        if text not in self.commands:
            self.commands.append(text)

    def judge(self, goal: str, value: float | None, fmt: str, ok: Callable[[float], bool],
              note: str = "") -> None:
        if value is None or value != value:
            self.targets.append(Target(goal, "not measured", None, note))
        else:
            self.targets.append(Target(goal, fmt.format(value), ok(value), note))

    def save(self, path: Path, scrub: dict[str, str]) -> None:
        """The raw run, so the report (and its notes) can be re-rendered without re-running;
        ``scrub`` replaces this machine's paths."""
        text = json.dumps(asdict(self), indent=1) + "\n"
        for old, new in scrub.items():
            text = text.replace(old, new)
        path.write_text(text)

    @classmethod
    def load(cls, path: Path) -> Run:
        raw = json.loads(path.read_text())
        rows = [Row(r["workload"], Metric(**r["dwp"]), Metric(**r["base"]) if r["base"]
                    else None, r["base_name"], r["note"]) for r in raw["rows"]]
        return cls(rows, [Target(**t) for t in raw["targets"]], raw["notes"],
                   raw["commands"], raw["facts"], raw.get("title", ""))
