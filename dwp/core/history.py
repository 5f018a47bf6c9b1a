"""Page history: the versions a key's writes superseded, kept to be read back and restored.

History is part of the key's state: it hands off and is compared by anti-entropy with
the rest of it, while a write's replication leaves it home (each replica files what the
write superseded itself; anti-entropy repairs one that missed a version). Each replica
keeps the newest of every version it has ever known the key to have had, minus the
current siblings, ranked by a total order: top-k of a union does not depend on the order
the parts arrived in, so replicas that have seen the same writes hold the same history.
The store keeps each version in a row of its own (``Kept``), so a write adds the version
it superseded and drops the one that fell out, and reads no other kept body.
"""

from __future__ import annotations

from collections.abc import Iterable

from dwp.core.clock import Dot, Sibling
from dwp.core.codec import State
from dwp.core.errors import NotFound
from dwp.core.store import Kept
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


def refile(new: State, kept: Iterable[Kept], before: Iterable[State], versions: int
           ) -> tuple[list[Sibling[Version]], list[Kept]]:
    """What the key's kept set becomes under ``new``: every version ``kept`` holds or a
    state it replaced or merged (``before``) holds, current or kept, that ``new``
    superseded, the newest ``versions - 1`` of them (so a key lists ``versions`` with its
    current one). A write retried under the same write id is one version: only its
    highest dot is kept. Answers the versions to add (never one ``kept`` holds: its body
    is read from no row) and the rows to drop; the rest stay as they are."""
    current = {s.dot for s in new.siblings}
    current_ids = {s.value.write_id for s in new.siblings if s.value.write_id}
    best: dict[str | Dot, tuple[float, Dot, Kept | Sibling[Version]]] = {}

    def consider(dot: Dot, mtime: float, write_id: str, item: Kept | Sibling[Version]
                 ) -> None:
        if dot in current or write_id in current_ids:
            return
        ident: str | Dot = write_id or dot
        held = best.get(ident)
        if held is None or dot > held[1] or (dot == held[1] and isinstance(item, Kept)):
            best[ident] = (mtime, dot, item)

    stored = list(kept)
    for k in stored:
        consider(k.dot, k.mtime, k.write_id, k)
    for state in (*before, new):
        for s in (*state.history, *state.siblings):
            consider(s.dot, s.value.mtime, s.value.write_id, s)
    chosen = sorted(best.values(), key=lambda c: (c[0], c[1]), reverse=True)
    chosen = chosen[:max(0, versions - 1)]
    staying = {dot for _, dot, item in chosen if isinstance(item, Kept)}
    added = sorted((item for _, _, item in chosen if not isinstance(item, Kept)),
                   key=lambda s: s.dot)
    return added, [k for k in stored if k.dot not in staying]


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
