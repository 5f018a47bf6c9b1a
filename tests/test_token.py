"""The context token: round trips, and refusal of anything not issued by this network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwp.core.token import Token, TokenCodec, TokenError, key_tag

codec = TokenCodec("secret")
vv = st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 2**40), max_size=4)


@given(st.dictionaries(st.integers(0, 64), vv, max_size=4), st.text(max_size=20), vv)
def test_round_trip(causal: dict[int, dict[str, int]], key: str, ctx: dict[str, int]) -> None:
    causal = {s: v for s, v in causal.items() if v}
    token = Token(causal, key_tag(key), ctx)
    assert codec.decode(codec.encode(token)) == token


def test_empty_and_missing_tokens_mean_no_past() -> None:
    assert codec.decode(None) == Token() == codec.decode("")


@pytest.mark.parametrize("bad", ["!!!", "AAAA", "x" * 9000, "bm90IGEgdG9rZW4"])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(TokenError):
        codec.decode(bad)


def test_a_token_from_another_network_or_edited_is_refused() -> None:
    text = codec.encode(Token({0: {"n1.a": 3}}))
    with pytest.raises(TokenError):
        TokenCodec("other").decode(text)
    forged = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
    with pytest.raises(TokenError):
        codec.decode(forged)


def test_observe_accumulates_across_shards_and_names_the_last_key() -> None:
    t = Token().observe(0, "a/x", {"n1.a": 2}, [{1: {"n2.b": 5}}])
    t = t.observe(1, "a/y", {"n2.b": 1, "n4.c": 1}, [])
    assert t.causal == {0: {"n1.a": 2}, 1: {"n2.b": 5, "n4.c": 1}}
    assert t.context_for("a/y") == {"n2.b": 1, "n4.c": 1}
    assert t.context_for("a/x") is None
