"""Consoles and progress bars: pretty on a terminal, plain and unwrapped when piped."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

LARGE = 1 << 20  # transfers at least this big get a progress bar

err = Console(stderr=True, highlight=False)


def out() -> Console:
    """Standard output; when piped, lines are never wrapped so scripts see whole keys."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=1 << 14, no_color=True)
    return console


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def size(n: int) -> str:
    return decimal(n)


def date(mtime: float) -> str:
    return datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M")


def shards_summary(replica_counts: list[int]) -> str:
    """Like "2 shards x 2 replicas"; a join can give a shard more replicas than the
    network's replication factor, so this counts the replicas that exist."""
    low, high = min(replica_counts, default=0), max(replica_counts, default=0)
    counts = str(low) if low == high else f"{low}-{high}"
    return f"{len(replica_counts)} shards x {counts} replicas"


def transfer_progress(files: bool = False) -> Progress:
    """Bytes, rate and ETA on stderr (and a files count for publish); silent when piped."""
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn()]
    if files:
        columns.insert(2, TextColumn("{task.fields[files]}"))
    return Progress(*columns, console=err, disable=not err.is_terminal)
