"""Judging a history once the network has healed and converged.

Per key (one writer, increasing indexes): the final value must be the effect of the
last acknowledged mutation or of a later one whose outcome is unknown; a value no write
produced is unexpected; a read older than the reader's floor (what its own token covers,
including what it learned through the dependencies of other clients' writes) is stale;
an acknowledged delete undone with no later write is resurrected; two acknowledged
deletes with no write between them are duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tests.chaos.history import FAIL, OK, UNKNOWN, History, Op


@dataclass(frozen=True)
class DiskLoss:
    """A replica incarnation whose data dir was wiped: writes whose dot it issued and had
    not passed on yet may go. Named by replica id, not by node and time: an ack from the
    dying incarnation can reach the client after its successor started."""

    replica: str


@dataclass
class Verdict:
    ops: int = 0
    acked_writes: int = 0
    lost: int = 0
    lost_with_disk: int = 0
    unexpected: int = 0
    stale: int = 0
    resurrected: int = 0
    duplicate_deletes: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.unexpected or self.stale or self.resurrected
                    or self.duplicate_deletes)

    def flag(self, what: str, text: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if len(self.examples) < 20:
            self.examples.append(f"{what}: {text}")


def check(history: History, final: dict[str, int],
          disk_losses: list[DiskLoss] | None = None) -> Verdict:
    """``final`` maps each key to the index it holds after convergence (0: absent)."""
    verdict = Verdict(ops=len(history.ops))
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history.ops:
        by_key[op.key].append(op)
    for key, ops in by_key.items():
        mutations = [op for op in ops if op.kind != "read"]
        verdict.acked_writes += sum(op.kind == "write" and op.outcome == OK for op in mutations)
        _check_final(verdict, key, mutations, final.get(key, 0), disk_losses or [])
        _check_deletes(verdict, key, mutations)
        _check_reads(verdict, key, ops, mutations)
    return verdict


def _effect(op: Op) -> int:
    return op.index if op.kind == "write" else 0


def _check_final(verdict: Verdict, key: str, mutations: list[Op], value: int,
                 disk_losses: list[DiskLoss]) -> None:
    written = {op.index for op in mutations if op.kind == "write"}
    failed = {op.index for op in mutations if op.kind == "write" and op.outcome == FAIL}
    if value > 0 and (value not in written or value in failed):
        verdict.flag("unexpected", f"{key} ended as #{value}, which no write produced")
        return
    acked = [i for i, op in enumerate(mutations) if op.outcome == OK]
    last = acked[-1] if acked else -1
    maybe = [op for op in mutations[last + 1:] if op.outcome == UNKNOWN]
    allowed = {_effect(op) for op in maybe} | {_effect(mutations[last]) if acked else 0}
    if value in allowed or not acked:
        return
    m = mutations[last]
    text = f"{key} ended as #{value} after {m.kind} #{m.index} was acknowledged by {m.node}"
    if m.writer in {d.replica for d in disk_losses}:
        verdict.flag("lost_with_disk", text)  # W=1: acknowledged by a disk later wiped
    elif m.kind == "delete" and value > 0:
        verdict.flag("resurrected", text)
    else:
        verdict.flag("lost", text)


def _check_deletes(verdict: Verdict, key: str, mutations: list[Op]) -> None:
    previous: Op | None = None
    for op in mutations:
        if op.kind == "write" and op.outcome != FAIL:
            previous = None
        elif op.kind == "delete" and op.outcome == OK:
            if previous is not None:
                verdict.flag("duplicate_deletes", f"{key}: deletes #{previous.index} and "
                              f"#{op.index} both acknowledged with no write between")
            previous = op


def _check_reads(verdict: Verdict, key: str, ops: list[Op], mutations: list[Op]) -> None:
    written = {op.index for op in mutations if op.kind == "write"}
    kinds = {op.index: op.kind for op in mutations}
    for op in ops:
        if op.kind != "read" or op.outcome != OK:
            continue
        where = f"client {op.client} read {key} at {op.node or '?'}"
        if op.index < 0 or (op.index > 0 and op.index not in written):
            verdict.flag("unexpected", f"{where}: {op.raw[:60]!r}, never written")
        elif op.index > 0 and op.index < op.known:
            verdict.flag("stale", f"{where}: #{op.index}, its token covers #{op.known}")
        elif op.index == 0 and op.known > 0 and kinds.get(op.known) == "write" and not any(
                m.kind == "delete" and m.index > op.known and m.outcome != FAIL
                and m.invoked < op.completed for m in mutations):
            verdict.flag("stale", f"{where}: absent, its token covers #{op.known}")
