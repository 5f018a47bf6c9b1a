"""The single-range parser, as a table (no network)."""

from __future__ import annotations

import pytest

from gateway.byteranges import Unsatisfiable, parse_range
from gateway.responses import attachment, etag_matches


@pytest.mark.parametrize(("header", "size", "span"), [
    (None, 10, None), ("", 10, None),
    ("bytes=0-0", 10, (0, 1)), ("bytes=0-9", 10, (0, 10)), ("bytes=2-", 10, (2, 10)),
    ("bytes=5-100", 10, (5, 10)), ("bytes=-3", 10, (7, 10)), ("bytes=-30", 10, (0, 10)),
    ("BYTES = 1-2", 10, (1, 3)), ("bytes=3-1", 10, None), ("bytes=0-1,3-4", 10, None),
    ("items=0-1", 10, None), ("bytes=a-b", 10, None), ("bytes=-", 10, None),
    ("bytes=1", 10, None), ("bytes=²-3", 10, None)])
def test_parse(header: str | None, size: int, span: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == span


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0),
    ("bytes=-5", 0)])
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_etag_matches() -> None:
    assert etag_matches('"a"', '"a"') and etag_matches('W/"a"', '"a"')
    assert etag_matches('"b", "a"', '"a"') and etag_matches("*", '"a"')
    assert not etag_matches('"ab"', '"a"') and not etag_matches(None, '"a"')


def test_attachment_names() -> None:
    assert attachment("a.txt") == "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"
    assert 'filename="_.txt"' in attachment('".txt')
    assert "filename*=UTF-8''caf%C3%A9.txt" in attachment("café.txt")
