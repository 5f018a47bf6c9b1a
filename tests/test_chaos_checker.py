"""The chaos checker's excuse for a wiped disk covers exactly the writes whose dot the
wiped incarnation issued: a later incarnation of the same node answers for its own."""

from __future__ import annotations

from dwp.core.token import Token, TokenCodec
from tests.chaos.checker import DiskLoss, check
from tests.chaos.history import OK, History, Op, name_writers

KEY = "chaos/k"
OLD, NEW = "n2.aaaaaa", "n2.bbbbbb"


def _written(tokens: TokenCodec, seen: dict[str, int], context: dict[str, int]) -> Op:
    """Write #1 of KEY, acknowledged by node n2 with ``context`` as the key's new context."""
    before = tokens.encode(Token({0: seen})) if seen else ""
    after = Token({0: context}).observe(0, KEY, context, []).compact()
    return Op(0, "write", KEY, 1, 0.0, 1.0, OK, 200, "n2", before, tokens.encode(after))


def test_the_writer_is_the_coordinators_new_dot() -> None:
    tokens = TokenCodec("secret")
    history = History()
    op = history.add(_written(tokens, {OLD: 4, "n1.cccccc": 2},
                              {OLD: 4, "n1.cccccc": 2, NEW: 1}))
    name_writers(history, tokens)
    assert op.writer == NEW


def test_a_write_by_a_later_incarnation_is_lost_not_excused() -> None:
    tokens = TokenCodec("secret")
    history = History()
    history.add(_written(tokens, {OLD: 4}, {OLD: 4, NEW: 1}))
    name_writers(history, tokens)
    verdict = check(history, {KEY: 0}, [DiskLoss(OLD)])
    assert (verdict.lost, verdict.lost_with_disk) == (1, 0), verdict.examples


def test_a_write_by_the_wiped_incarnation_is_lost_with_its_disk() -> None:
    tokens = TokenCodec("secret")
    history = History()
    history.add(_written(tokens, {}, {OLD: 5}))
    name_writers(history, tokens)
    verdict = check(history, {KEY: 0}, [DiskLoss(OLD)])
    assert (verdict.lost, verdict.lost_with_disk) == (0, 1), verdict.examples
