"""Property tests of dotted version vectors (dwp.core.clock)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dwp.core import clock
from dwp.core.clock import Dot, KeyState

REPLICAS = ["a", "b", "c"]
vectors = st.dictionaries(st.sampled_from(REPLICAS), st.integers(0, 5))


def canon(vv: dict[str, int]) -> dict[str, int]:
    return {r: c for r, c in vv.items() if c}


@given(vectors)
def test_descends_is_reflexive(a: dict[str, int]) -> None:
    assert clock.descends(a, a)


@given(vectors, vectors)
def test_descends_is_antisymmetric(a: dict[str, int], b: dict[str, int]) -> None:
    if clock.descends(a, b) and clock.descends(b, a):
        assert canon(a) == canon(b)


@given(vectors, vectors, vectors)
def test_descends_is_transitive(a: dict[str, int], b: dict[str, int], c: dict[str, int]) -> None:
    if clock.descends(a, b) and clock.descends(b, c):
        assert clock.descends(a, c)


@given(vectors, vectors)
def test_join_is_the_least_upper_bound(a: dict[str, int], b: dict[str, int]) -> None:
    j = clock.join(a, b)
    assert clock.descends(j, a) and clock.descends(j, b)
    assert all(j[r] == max(a.get(r, 0), b.get(r, 0)) for r in j)


# A history: replicas coordinate writes (with a context read from some replica, or blind)
# and merge each other's states; any state reached this way is a real key state.
ops = st.lists(st.tuples(st.sampled_from(["write", "blind", "sync"]),
                         st.integers(0, 2), st.integers(0, 2)), max_size=25)


def run(history: list[tuple[str, int, int]]) -> list[KeyState[str]]:
    states: list[KeyState[str]] = [KeyState() for _ in REPLICAS]
    counters = [0, 0, 0]
    for n, (op, i, j) in enumerate(history):
        if op == "sync":
            states[i] = clock.merge(states[i], states[j])
            continue
        counters[i] += 1
        ctx = None if op == "blind" else states[j].context
        states[i] = clock.update(states[i], Dot(REPLICAS[i], counters[i]), f"v{n}", ctx)
    return states


@given(ops)
def test_states_keep_their_invariants(history: list[tuple[str, int, int]]) -> None:
    for s in run(history):
        dots = [x.dot for x in s.siblings]
        assert dots == sorted(set(dots))
        assert all(clock.covers(s.context, d) for d in dots)


@given(ops, st.integers(0, 2), st.integers(0, 2))
def test_merge_is_commutative_and_idempotent(history: list[tuple[str, int, int]],
                                             i: int, j: int) -> None:
    s = run(history)
    assert clock.merge(s[i], s[j]) == clock.merge(s[j], s[i])
    assert clock.merge(s[i], s[i]) == s[i]


@given(ops)
def test_merge_is_associative(history: list[tuple[str, int, int]]) -> None:
    a, b, c = run(history)
    assert clock.merge(clock.merge(a, b), c) == clock.merge(a, clock.merge(b, c))


@given(ops, st.integers(0, 2), st.integers(0, 2))
def test_a_write_replaces_exactly_what_its_context_saw(
        history: list[tuple[str, int, int]], i: int, j: int) -> None:
    s = run(history)
    ctx = s[j].context
    dot = Dot("z", 1)
    new = clock.update(s[i], dot, "new", ctx)
    expected = {x.dot for x in s[i].siblings if not clock.covers(ctx, x.dot)} | {dot}
    assert {x.dot for x in new.siblings} == expected


@given(ops)
def test_concurrent_writes_survive_a_merge(history: list[tuple[str, int, int]]) -> None:
    """A sibling disappears from a merge only if the other side's context saw it."""
    a, b, _ = run(history)
    merged = {x.dot for x in clock.merge(a, b).siblings}
    for x in a.siblings:
        assert x.dot in merged or clock.covers(b.context, x.dot)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=40),
       st.lists(st.integers(0, 1), min_size=40, max_size=40))
def test_two_clients_alternating_read_then_write_hold_at_most_two_siblings(
        turns: list[str], replicas: list[int]) -> None:
    """Each client reads (at either of two replicas), then writes with what it read."""
    states: list[KeyState[str]] = [KeyState(), KeyState()]
    counters = [0, 0]
    read: dict[str, dict[str, int] | None] = {"A": None, "B": None}
    for n, who in enumerate(turns):
        r = replicas[n]
        if read[who] is None:
            read[who] = dict(states[r].context)
            continue
        counters[r] += 1
        states[r] = clock.update(states[r], Dot(f"r{r}", counters[r]), who, read[who])
        read[who] = None
        states = [clock.merge(states[0], states[1])] * 2
        assert len(states[0].siblings) <= 2
