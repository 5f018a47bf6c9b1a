"""Sizes and counts as people read them, the same in the CLI and the web UI."""

from __future__ import annotations

import pytest

from browser_cli.terminal import shards_summary, size
from dwp.core.sizes import count, human_size
from gateway.pages import TEMPLATES


@pytest.mark.parametrize(("n", "shown"), [
    (0, "0 B"), (361, "361 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1700, "1.7 KiB"),
    (250_000, "244.1 KiB"), (1024**2 - 1, "1.0 MiB"), (5 * 1024**3, "5.0 GiB"),
    (3 * 1024**5, "3072.0 TiB")])
def test_human_size(n: int, shown: str) -> None:
    assert human_size(n) == shown
    assert size(n) == shown  # the CLI's
    assert TEMPLATES.filters["size"](n) == shown  # the web UI's


def test_counts_agree_with_their_number() -> None:
    assert [count(n, "chunk") for n in (0, 1, 2)] == ["0 chunks", "1 chunk", "2 chunks"]
    assert count(1, "deleted key") == "1 deleted key"
    assert count(2, "entry", "entries") == "2 entries"
    assert shards_summary([2]) == "1 shard x 2 replicas"
    assert shards_summary([1]) == "1 shard x 1 replica"
    assert shards_summary([2, 3]) == "2 shards x 2-3 replicas"
