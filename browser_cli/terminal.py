"""Consoles and progress bars: pretty on a terminal, plain and unwrapped when piped."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from dwp.core.sizes import count, human_size

LARGE = 1 << 20  # transfers at least this big get a progress bar

# Messages are never wrapped: a command or a path in one must copy as one line (a
# terminal wraps what is too long for it by itself).
err = Console(stderr=True, highlight=False, soft_wrap=True)


def out() -> Console:
    """Standard output; when piped, lines are never wrapped so scripts see whole keys."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=1 << 14, no_color=True)
    return console


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


size = human_size  # the web UI's spelling too (dwp.core.sizes)


def date(mtime: float) -> str:
    return datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")


def shards_summary(replica_counts: list[int]) -> str:
    """Like "2 shards x 2 replicas"; a join can give a shard more replicas than the
    network's replication factor, so this counts the replicas that exist."""
    low, high = min(replica_counts, default=0), max(replica_counts, default=0)
    counts = str(low) if low == high else f"{low}-{high}"
    return f"{count(len(replica_counts), 'shard')} x {counts} replica{'' if high == 1 else 's'}"


class SpeedColumn(ProgressColumn):
    """Bytes a second in the units every size is shown in (rich's own column is decimal)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{size(int(speed))}/s", style="progress.data.speed")


def transfer_progress(files: bool = False) -> Progress:
    """Bytes, rate and ETA on stderr (and a files count for publish); silent when piped."""
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               SpeedColumn(), TimeRemainingColumn()]
    if files:
        columns.insert(2, TextColumn("{task.fields[files]}"))
    return Progress(*columns, console=err, disable=not err.is_terminal)
