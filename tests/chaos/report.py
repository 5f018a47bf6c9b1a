"""docs/reliability.md: one table per nemesis, a row per seed, and what went wrong."""

from __future__ import annotations

from collections.abc import Sequence

from tests.chaos.campaign import Result

HEADER = ("| seed | seconds | operations | acknowledged writes | lost | unexpected | stale "
          "| resurrected | duplicate deletes | lost with a wiped disk | convergence (s) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
ABOUT = """# Reliability

Written by `python -m tests.chaos` ({command}). Four HTTP clients, each with its own
context token sent back on every request, write unique values (every key has one
writer, which writes `key=1`, `key=2`, ... in order; a delete reads the key first and
deletes with that token) and read their own and each other's keys through a real
gateway, while a nemesis strikes on a seeded schedule. After the last fault is healed
the checker reads every key back and counts:

- **lost**: the key does not hold its last acknowledged write (or delete), nor the
  effect of a later write whose outcome was unknown;
- **unexpected**: a value no write produced (or one whose write was refused);
- **stale**: a read older than what the reader's token covers: its own writes and
  reads, and what it learned by reading another client's write (the dependencies that
  write carried), so a causal chain A -> B -> C is checked end to end;
- **resurrected / duplicate deletes**: a deleted key back without a later write; two
  acknowledged deletes with no write between;
- **lost with a wiped disk**: acknowledged only by a replica whose data dir was then
  deleted before it could pass the write on (unavoidable with W=1; the nemesis first
  waits for the victim's outbox to drain, so this is rare);
- **convergence**: seconds from the last heal until every node is up and every shard's
  replicas report equal digests.

Nemeses: `kill` (SIGKILL of a storage actor), `partition` (replica messages cut between
two random groups), `host` (a Ray host removed and added back), `disk` (a replica's
data dir deleted; it must come back with a new incarnation: kv679), `gateway` (the
gateway stopped and started on the same port), `view` (a node joins and leaves under
load), `mixed` (a random one per round). The network: 4 nodes on hosts h1, h2, h3, h1,
R=2, anti-entropy every second.
"""


def render(results: Sequence[Result], command: str) -> str:
    out = [ABOUT.format(command=command)]
    for kind in dict.fromkeys(r.nemesis for r in results):
        rows = [r for r in results if r.nemesis == kind]
        out += [f"## {kind}\n", HEADER]
        for r in rows:
            v = r.verdict
            conv = "did not converge" if r.convergence is None else f"{r.convergence:.1f}"
            out.append(f"| {r.seed} | {r.seconds:.0f} | {v.ops} | {v.acked_writes} | {v.lost} "
                       f"| {v.unexpected} | {v.stale} | {v.resurrected} "
                       f"| {v.duplicate_deletes} | {v.lost_with_disk} | {conv} |")
        out.append("")
        faults = [f for r in rows for f in r.faults]
        out.append(f"Faults injected: {len(faults)}, e.g. "
                   + "; ".join(f"`{f}`" for f in faults[:4]) + ".\n")
        examples = [e for r in rows for e in r.verdict.examples]
        if examples:
            out += ["Findings:\n", *[f"- {e}" for e in examples[:10]], ""]
    return "\n".join(out)
