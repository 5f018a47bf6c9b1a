"""Garbage collection: chunks no version names, and deleted keys whose time is up.

A chunk is content-addressed and shared between keys and versions, so only the whole
network knows whether any version still names it. A round asks every member for the
chunks its states name (current and kept versions: the mark), then tells each member
which chunks of its partitions are named; each removes the others stored before the
grace period began (the sweep). It is safe because:
- every member answers the mark at one epoch with no change or hand-off under way
  (``Replica.settled``), or the round removes nothing; each sweep checks the same again
  inside the transaction that removes;
- a version written after its member answered names chunks stored (or stored again:
  ``Replica.put_chunk`` renews a chunk it has) within the grace period, which is longer
  than any upload, and no sweep removes those.
Every replica of a shard removes the same chunks (those none of them keeps), so the
sweep leaves their anti-entropy digests equal.
Deleted keys are reaped the same way, shard by shard: each replica names the deleted
keys its own rule lets it remove (``Replica.reap``) and those it keeps, and each removes
what no replica keeps (one that reaped it already, or never had it, keeps nothing).
Every replica of a shard then holds the same keys, so their digests stay equal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from dwp.client.network import NetworkClient
from dwp.core.messages import ChunkRefs, Message, Ping, Reap, Reapable, RefsPage, Sweep, Swept
from dwp.core.view import View

R = TypeVar("R")

GRACE_SECONDS = 3600.0  # longer than any upload takes
PAGE = 1024  # chunk hashes per list in a message (a Sweep carries two: under ~100 KiB)
LIMIT = 10_000  # chunks a member removes per round
REAP_PAGES = 8  # pages of keys (``dwp.core.answers.REAP_SCAN`` each) a round looks at per shard
CALL_TIMEOUT = 60.0


@dataclass
class Report:
    """What a round removed, or would have (``dry_run``), over the whole network."""

    dry_run: bool
    chunks: int = 0
    bytes: int = 0
    waiting: int = 0  # bytes of unnamed chunks kept for now (grace period, or limit)
    deleted_keys: int = 0  # reaped (or that would be) from every replica of their shard
    skipped: list[str] = field(default_factory=list)  # why some or all was not collected


async def collect(client: NetworkClient, dry_run: bool = False,
                  grace: float = GRACE_SECONDS, now: Callable[[], float] = time.time,
                  cursors: dict[int, str] | None = None, timeout: float = CALL_TIMEOUT
                  ) -> Report:
    """One round over the network as ``client`` sees it when the round begins: the mark,
    the sweeps and every check use that one view (a view adopted meanwhile would send a
    member the named chunks of another shard). ``cursors``: where each shard's look for
    deleted keys goes on from, kept across rounds by whoever runs them; ``timeout``: how
    long a node may take to answer one message."""
    round_ = _Round(client, client.view, Report(dry_run), timeout)
    if outsider := await round_.outsider():
        round_.report.skipped.append(f"Nothing was collected because node {outsider} runs "
                                     "outside the view (a change not decided yet, or left "
                                     "over from one that was not).")
        return round_.report
    cursors = {} if cursors is None else cursors
    for shard, members in sorted(round_.view.shards.items()):
        try:
            cursors[shard] = await round_.reap(members, cursors.get(shard, ""))
        except Exception as exc:  # one shard's failure leaves the others to reap
            round_.report.skipped.append(f"Shard {shard} reaped nothing because {exc}.")
    marked = await round_.mark()
    if marked is None:
        return round_.report
    named, only_kept = marked
    view = round_.view
    for shard, members in sorted(view.shards.items()):
        mine = sorted(c for c in named
                      if view.shard_of_partition(view.partition_of_chunk(c)) == shard)
        try:
            await round_.sweep(members, mine, only_kept, now() - grace)
        except Exception as exc:  # one shard's failure leaves the others to sweep
            round_.report.skipped.append(f"Shard {shard} swept nothing because {exc}.")
    return round_.report


@dataclass
class _Round:
    client: NetworkClient
    view: View
    report: Report
    timeout: float

    async def outsider(self) -> str | None:
        """A node that runs but is not in the view: a joiner whose change is not decided.
        It holds copies the view does not account for (a state a delete superseded, a
        manifest naming chunks), so nothing may be collected until the change is. Its id
        is the next the view would give out (an undecided change commits none)."""
        node = self.view.new_node_id()
        try:
            await self.client.ask(node, Ping(), self.timeout)
        except Exception:
            return None
        return node

    async def reap(self, members: tuple[str, ...], after: str) -> str:
        """Reap a shard's deleted keys page by page; answers where the next round goes on."""
        for _ in range(REAP_PAGES):
            answers: list[Reapable] = await self.on_all(members, Reap(after))
            if not answers:
                return after
            lasts = [a.last for a in answers if a.last is not None]
            end = min(lasts) if lasts else None
            kept = set().union(*(a.kept for a in answers))
            removable = {k for a in answers for k in a.keys
                         if k not in kept and (end is None or k <= end)}
            if removable and not self.report.dry_run:
                done = await self.on_all(members, Reap(after, sorted(removable)))
                removable = set().union(*(a.keys for a in done))
            self.report.deleted_keys += len(removable)
            if end is None:
                return ""
            after = end
        return after

    async def mark(self) -> tuple[set[bytes], set[bytes]] | None:
        """Every chunk any member's states name, and those only kept versions name; None
        when a member did not answer or was not settled (then nothing may be swept)."""
        named: set[bytes] = set()
        kept: set[bytes] = set()
        for node in self.view.members:
            after: str | None = ""
            while after is not None:
                try:
                    page: RefsPage = await self.client.ask(
                        node, ChunkRefs(after, PAGE), self.timeout)
                except Exception as exc:
                    self.report.skipped.append(f"No chunk was collected because {node} did "
                                               f"not answer ({exc}).")
                    return None
                why = (f"{node} is at epoch {page.epoch}, not {self.view.epoch}"
                       if page.epoch != self.view.epoch else page.unsettled)
                if why:
                    self.report.skipped.append(f"No chunk was collected because {why}.")
                    return None
                named.update(page.refs)
                kept.update(page.kept)
                after = page.next
        return named | kept, kept - named

    async def sweep(self, members: tuple[str, ...], named: list[bytes],
                    only_kept: set[bytes], before: float) -> None:
        """Sweep one shard range by range, each with the named chunks in it: first every
        replica says what it may remove and what it keeps for now, then each removes what
        none keeps (one that removed it already, or never had it, keeps nothing), so their
        digests stay equal; a range a replica did not answer for waits for the next round."""
        report = self.report
        starts = [b"", *(named[i] for i in range(PAGE, len(named), PAGE))]
        left = LIMIT
        for i, lo in enumerate(starts):
            hi = starts[i + 1] if i + 1 < len(starts) else None
            part = named[i * PAGE:(i + 1) * PAGE]
            ask = Sweep(self.view.epoch, before, lo, hi, part,
                        [c for c in part if c in only_kept], min(left, PAGE), True)
            swept: list[Swept] = await self.on_all(members, ask)
            refused = [a.refused for a in swept if a.refused]
            report.skipped += refused
            if not swept or refused:
                return
            waiting = set().union(*(a.waiting for a in swept))
            common = {c for a in swept for c, _ in a.chunks if c not in waiting}
            report.waiting += sum(a.waiting_bytes for a in swept)
            if not report.dry_run and common:
                swept = await self.on_all(members, replace(ask, dry_run=False,
                                                           only=sorted(common)))
            for answer in swept:
                mine = [size for c, size in answer.chunks if c in common]
                report.chunks += len(mine)
                report.bytes += sum(mine)
            left = max(0, left - len(common))

    async def on_all(self, members: tuple[str, ...], message: Message[R]) -> list[R]:
        """One message to every replica of a shard; [] (and why, in the report) unless
        all of them answered."""
        answers = await asyncio.gather(*(self.client.ask(n, message, self.timeout)
                                         for n in members), return_exceptions=True)
        failed = [f"Node {n} did not answer ({a}), so its shard waits for the next round."
                  for n, a in zip(members, answers, strict=True)
                  if isinstance(a, BaseException)]
        self.report.skipped += failed
        return [] if failed else [a for a in answers if not isinstance(a, BaseException)]
