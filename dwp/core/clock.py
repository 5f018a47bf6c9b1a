"""Dotted version vectors: the causal history of one key and its concurrent siblings.

A key's state is a causal *context* (a version vector: replica id -> highest counter
seen for this key) plus the *siblings* that context has not yet superseded, each tagged
with the dot ``(replica, counter)`` of the write that made it.

Invariants kept by every function here:
- every sibling's dot is covered by the context;
- no two siblings share a dot; siblings are kept sorted by dot (a canonical form, so
  equal histories encode to equal bytes and hash equally on every replica);
- ``history`` holds superseded siblings kept for reading back (see ``dwp.core.history``);
  the functions here carry none of it over: the replica decides what to keep.

A replica's counter is per replica, not per key; a coordinator always holds all of its
own earlier dots for a key, which is what lets a plain vector stand for a set of dots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")
VersionVector = Mapping[str, int]


@dataclass(frozen=True, slots=True, order=True)
class Dot:
    """One write's identity: the coordinating replica and its counter at that write."""

    replica: str
    counter: int


@dataclass(frozen=True, slots=True)
class Sibling(Generic[V]):
    dot: Dot
    value: V


@dataclass(frozen=True, slots=True)
class KeyState(Generic[V]):
    context: dict[str, int] = field(default_factory=dict)
    siblings: tuple[Sibling[V], ...] = ()
    history: tuple[Sibling[V], ...] = ()


def covers(vv: VersionVector, dot: Dot) -> bool:
    return vv.get(dot.replica, 0) >= dot.counter


def descends(a: VersionVector, b: VersionVector) -> bool:
    """True when ``a`` has seen everything ``b`` has (a >= b)."""
    return all(a.get(replica, 0) >= counter for replica, counter in b.items())


def join(*vectors: VersionVector) -> dict[str, int]:
    """The least vector that descends from all of them."""
    out: dict[str, int] = {}
    for vv in vectors:
        for replica, counter in vv.items():
            if counter > out.get(replica, 0):
                out[replica] = counter
    return out


def _canonical(context: Mapping[str, int], siblings: Iterable[Sibling[V]]) -> KeyState[V]:
    by_dot = {s.dot: s for s in siblings}
    return KeyState(
        context={r: c for r, c in sorted(context.items()) if c > 0},
        siblings=tuple(by_dot[d] for d in sorted(by_dot)),
    )


def update(
    state: KeyState[V], dot: Dot, value: V, context: VersionVector | None = None
) -> KeyState[V]:
    """Apply a new write: it supersedes exactly the siblings ``context`` has seen.

    ``context=None`` is a blind write; it supersedes everything this replica has seen.
    """
    seen = state.context if context is None else context
    kept = [s for s in state.siblings if not covers(seen, s.dot)]
    return _canonical(join(state.context, seen, {dot.replica: dot.counter}),
                      [*kept, Sibling(dot, value)])


def merge(a: KeyState[V], b: KeyState[V]) -> KeyState[V]:
    """Combine two replicas' states of one key; commutative, associative, idempotent."""
    b_dots = {s.dot for s in b.siblings}
    a_dots = {s.dot for s in a.siblings}
    kept = [s for s in a.siblings if s.dot in b_dots or not covers(b.context, s.dot)]
    kept += [s for s in b.siblings if s.dot not in a_dots and not covers(a.context, s.dot)]
    return _canonical(join(a.context, b.context), kept)


def covers_state(vv: VersionVector, state: KeyState[V]) -> bool:
    """True when ``vv`` has seen this whole state (its context)."""
    return descends(vv, state.context)
