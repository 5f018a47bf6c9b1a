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
Every replica of a shard removes the same chunks (those all of them found they may), so
the sweep leaves their anti-entropy digests equal.
Deleted keys are reaped the same way, shard by shard: each replica names the deleted
keys its own rule lets it remove (``Replica.reap``), and each removes those all named.
Every replica of a shard then holds the same keys, so their digests stay equal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dwp.client import NetworkClient
from dwp.messages import ChunkRefs, Message, Reap, Reapable, RefsPage, Sweep, Swept
from dwp.view import View

GRACE_SECONDS = 3600.0  # longer than any upload takes
PAGE = 2048  # chunk hashes per message (~70 KB: under Ray's inline limit)
LIMIT = 10_000  # chunks a member removes per round
REAP_PAGES = 8  # pages of keys (``dwp.node.REAP_SCAN`` each) a round looks at per shard
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
                  cursors: dict[int, str] | None = None) -> Report:
    """One round over the network as ``client`` sees it when the round begins: the mark,
    the sweeps and every check use that one view (a view adopted meanwhile would send a
    member the named chunks of another shard). ``cursors``: where each shard's look for
    deleted keys goes on from, kept across rounds by whoever runs them."""
    view = client.view
    report = Report(dry_run)
    before = now() - grace
    cursors = {} if cursors is None else cursors
    for shard, members in sorted(view.shards.items()):
        try:
            cursors[shard] = await _reap(client, members, cursors.get(shard, ""), dry_run,
                                         report)
        except Exception as exc:  # one shard's failure leaves the others to reap
            report.skipped.append(f"shard {shard} did not reap: {exc}")
    named, only_kept = await _mark(client, view, report)
    if named is None or only_kept is None:
        return report
    for shard, members in sorted(view.shards.items()):
        shard_named = sorted(c for c in named
                             if view.shard_of_partition(view.partition_of_chunk(c)) == shard)
        try:
            await _sweep(client, view, members, shard_named, only_kept, before, dry_run,
                         report)
        except Exception as exc:  # one shard's failure leaves the others to sweep
            report.skipped.append(f"shard {shard} did not sweep: {exc}")
    return report


async def _reap(client: NetworkClient, members: tuple[str, ...], after: str,
                dry_run: bool, report: Report) -> str:
    """Reap a shard's deleted keys page by page; answers where the next round goes on."""
    for _ in range(REAP_PAGES):
        answers: list[Reapable] = await _on_all(client, members, Reap(after), report)
        if not answers:
            return after
        lasts = [a.last for a in answers if a.last is not None]
        end = min(lasts) if lasts else None
        common = set.intersection(*({k for k in a.keys if end is None or k <= end}
                                    for a in answers))
        if common and not dry_run:
            done = await _on_all(client, members, Reap(after, sorted(common)), report)
            common = set().union(*(a.keys for a in done))
        report.deleted_keys += len(common)
        if end is None:
            return ""
        after = end
    return after


async def _on_all(client: NetworkClient, members: tuple[str, ...], message: Message,
                  report: Report) -> list[Any]:
    """One message to every replica of a shard; [] (and why, in the report) unless all
    of them answered."""
    answers = await asyncio.gather(*(client.transport.call(n, message, CALL_TIMEOUT)
                                     for n in members), return_exceptions=True)
    failed = [f"{n}: {a}" for n, a in zip(members, answers, strict=True)
              if isinstance(a, BaseException)]
    report.skipped += failed
    return [] if failed else list(answers)


async def _mark(client: NetworkClient, view: View, report: Report
                ) -> tuple[set[bytes], set[bytes]] | tuple[None, None]:
    """Every chunk any member's states name, and those only kept versions name; Nones
    when a member did not answer or was not settled (then nothing may be swept)."""
    named: set[bytes] = set()
    kept: set[bytes] = set()
    for node in view.members:
        after: str | None = ""
        while after is not None:
            try:
                page: RefsPage = await client.transport.call(node, ChunkRefs(after, PAGE),
                                                             CALL_TIMEOUT)
            except Exception as exc:
                report.skipped.append(f"no chunk collected: {node} did not answer ({exc})")
                return None, None
            if page.epoch != view.epoch or not page.settled:
                report.skipped.append(f"no chunk collected: {node} is changing views or "
                                      "handing off; the next round will")
                return None, None
            named.update(page.refs)
            kept.update(page.kept)
            after = page.next
    return named | kept, kept - named


async def _sweep(client: NetworkClient, view: View, members: tuple[str, ...],
                 named: list[bytes], only_kept: set[bytes], before: float, dry_run: bool,
                 report: Report) -> None:
    """Sweep one shard range by range, each with the named chunks in it: first every
    replica says what it may remove, then each removes what all of them may (so their
    digests stay equal; a range a replica did not answer for is left for the next round)."""
    starts = [b"", *(named[i] for i in range(PAGE, len(named), PAGE))]
    left = LIMIT
    for i, lo in enumerate(starts):
        hi = starts[i + 1] if i + 1 < len(starts) else None
        part = named[i * PAGE:(i + 1) * PAGE]
        kept = [c for c in part if c in only_kept]
        ask = Sweep(view.epoch, before, lo, hi, part, kept, min(left, PAGE), True)
        swept: list[Swept] = await _on_all(client, members, ask, report)
        refused = [a.refused for a in swept if a.refused]
        report.skipped += refused
        if not swept or refused:
            return
        common = set.intersection(*({c for c, _ in a.chunks} for a in swept))
        report.waiting += sum(a.waiting for a in swept)
        if not dry_run and common:
            act = replace(ask, dry_run=False, only=sorted(common))
            swept = [await client.transport.call(n, act, CALL_TIMEOUT) for n in members]
        for answer in swept:
            mine = [(c, size) for c, size in answer.chunks if c in common]
            report.chunks += len(mine)
            report.bytes += sum(size for _, size in mine)
        left = max(0, left - len(common))
