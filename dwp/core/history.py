"""Page history: the versions a key's writes superseded, kept to be read back and restored.

History is part of the key's state: it hands off and is compared by anti-entropy with
the rest of it, while a write's replication leaves it home (each replica files what the
write superseded itself; anti-entropy repairs one that missed a version). Each replica
keeps the newest of every version it has
ever known the key to have had, minus the current siblings, ranked by a total order:
top-k of a union does not depend on the order the parts arrived in, so replicas that
have seen the same writes hold the same history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from dwp.core.clock import Dot, Sibling
from dwp.core.codec import State
from dwp.core.errors import NotFound
from dwp.core.version import Version

DEFAULT_VERSIONS = 10  # versions a key lists: its current one(s) and those it replaced
DEFAULT_KEEP_DELETED_DAYS = 30.0  # how long a deleted key can still be brought back


def rank(s: Sibling[Version]) -> tuple[float, Dot]:
    """The winner order's key, the largest winning: write time, ties broken by dot, so
    every replica and reader picks the same winner (``replica.live``, the history list)."""
    return s.value.mtime, s.dot


def version_id(dot: Dot) -> str:
    """A version's name in URLs and the CLI: the dot of the write that made it."""
    return f"{dot.replica}:{dot.counter}"


def parse_version_id(text: str) -> Dot | None:
    replica, _, counter = text.rpartition(":")
    if not replica or not counter.isdigit() or len(text) > 200:
        return None
    return Dot(replica, int(counter))


def keep(new: State, before: Iterable[State], versions: int) -> State:
    """``new`` with the history it inherits from the states it replaced or merged: every
    sibling or history entry of those that ``new`` superseded, the newest
    ``versions - 1`` of them (so a key lists ``versions`` with its current one). A write
    retried under the same write id is one version: only its highest dot is kept."""
    current = {s.dot for s in new.siblings}
    current_ids = {s.value.write_id for s in new.siblings if s.value.write_id}
    best: dict[str | Dot, Sibling[Version]] = {}
    for state in (*before, new):
        for s in (*state.history, *state.siblings):
            if s.dot in current or s.value.write_id in current_ids:
                continue
            ident: str | Dot = s.value.write_id or s.dot
            if ident not in best or s.dot > best[ident].dot:
                best[ident] = s
    kept = sorted(best.values(), key=rank, reverse=True)[:max(0, versions - 1)]
    history = tuple(sorted(kept, key=lambda s: s.dot))
    return new if history == new.history else replace(new, history=history)


def listed(state: State) -> list[tuple[Sibling[Version], bool]]:
    """Every version the key lists, newest first, each with whether it is current."""
    out = [(s, True) for s in state.siblings] + [(s, False) for s in state.history]
    return sorted(out, key=lambda item: rank(item[0]), reverse=True)


def find(state: State, dot: Dot) -> Version | None:
    for s in (*state.siblings, *state.history):
        if s.dot == dot:
            return s.value
    return None


def readable(state: State, key: str, dot: Dot, if_gone: str = "", if_deleted: str = ""
             ) -> Version:
    """The kept version ``dot`` names, or NotFound saying why it cannot be read (each hint
    tells the reader what to do next)."""
    found = find(state, dot)
    if found is None:
        raise NotFound(f"{key!r} keeps no version {version_id(dot)!r} (any more){if_gone}")
    if found.deleted:
        raise NotFound(f"version {version_id(dot)!r} of {key!r} is a delete{if_deleted}")
    return found


def expired(state: State, now: float, keep_deleted_days: float) -> bool:
    """A deleted key (every current sibling a tombstone) whose history has aged out."""
    return (bool(state.siblings) and all(s.value.deleted for s in state.siblings)
            and max(s.value.mtime for s in state.siblings) + keep_deleted_days * 86400 <= now)
