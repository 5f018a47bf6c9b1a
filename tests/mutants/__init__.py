"""Rule mutants: each breaks one rule of docs/architecture.md by a small textual change
to the code that keeps it, and the simulator (its stories, then its seeds) must fail.

A mutant names its target by file and an exact snippet that must occur there once, so a
module that moves only needs its path changed; a snippet that is no longer found is an
error, never a pass. ``python -m tests.mutants`` runs them (``make mutants``); a new rule
comes with its mutant here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str  # the rule it breaks, as a name
    rule: str  # the rule, in the words of docs/architecture.md
    path: str  # the file it changes, from the repository's root
    snippet: str  # exact text, found once in that file
    replacement: str


MUTANTS = [
    # -- a view is either committed or invisible -------------------------------------
    Mutant("gossip-prepared-view", "a node serves, adopts and gossips only committed views",
           "dwp/core/answers.py",
           "return ViewState(replica.view.to_json(), pending.to_json() if pending else None)",
           "return ViewState((pending or replica.view).to_json(),\n"
           "                             pending.to_json() if pending else None)"),
    Mutant("two-proposals-at-once", "a node prepares one proposal at a time",
           "dwp/core/replica.py",
           "        if self.pending is not None:\n            raise ChangeRefused(",
           "        if False:\n            raise ChangeRefused("),
    # -- decided at the first commit -----------------------------------------------------
    Mutant("commit-new-members-first", "commits go to a witness (a node in both views) first",
           "dwp/client/membership.py",
           "order = [witness] + [n for n in members if n not in current] + [\n"
           "            n for n in current if n != witness]",
           "order = [n for n in members if n not in current] + [witness] + [\n"
           "            n for n in current if n != witness]"),
    Mutant("roll-back-without-every-answer",
           "a prepared change is rolled back only when every node of the committed view "
           "answered and none committed it",
           "dwp/client/membership.py", "            if silent:\n", "            if False:\n"),
    Mutant("commit-a-rolled-back-change",
           "a node refuses the Commit or Prepare of a change it rolled back",
           "dwp/core/replica.py",
           " or (view.change in self.aborted and not decided):",
           ":"),
    Mutant("abort-a-committed-change",
           "a node that committed a change refuses its Abort, and the recovery finishes it",
           "dwp/core/replica.py",
           "        if self.view.change == change:\n            return False",
           "        if False:\n            return False"),
    # -- ownership is checked where the write is applied --------------------------------
    Mutant("write-without-ownership-check",
           "ownership is checked inside the transaction that writes",
           "dwp/core/replica.py",
           "        if partition not in self.owned:\n            raise NotOwner(",
           "        if False:\n            raise NotOwner("),
    # -- an old owner drops a partition only after every new owner holds all of it -------
    Mutant("drop-when-some-owners-confirm",
           "an old owner drops a partition only after every new owner confirmed its hand-off",
           "dwp/core/sessions.py",
           "    if len(confirmed) < len(prints):\n        return None\n",
           ""),
    Mutant("drop-though-changed",
           "a partition is dropped only if its hash did not move since the hand-off",
           "dwp/core/replica.py",
           "                or self.phash.get(partition, 0) != fingerprint):",
           "                ):"),
    Mutant("leave-before-handing-off",
           "a leaving node ends only once it holds nothing and its outbox is empty",
           "dwp/core/replica.py",
           "                and not self.held_unowned() and not self.outbox_sizes())",
           "                )"),
    # -- hand-offs pass on the seals they received ----------------------------------------
    Mutant("hand-off-without-seals",
           "a hand-off passes on the seals its holder received from holders before it",
           "dwp/core/sessions.py",
           "    yield HandOff(partition, replica.id, replica.node_id, applied, lineage.to_json())",
           "    yield HandOff(partition, replica.id, replica.node_id, applied,\n"
           "                  Lineage(lineage.known, lineage.holders, lineage.claims).to_json())"),
    Mutant("late-seal-not-passed-on",
           "a seal that reaches a holder after it handed the partition on follows it",
           "dwp/core/replica.py",
           "            self._set_hand_off(self.to_hand_off | {partition})\n\n"
           "    def inherit(",
           "            pass\n\n    def inherit("),
    Mutant("seals-not-shared-by-anti-entropy",
           "while a replica awaits an old holder's seal, anti-entropy gives it the seals its "
           "shard-mate received",
           "dwp/core/sessions.py",
           "    if lineage_unknown or replica.awaits_hand_offs():\n",
           "    if lineage_unknown:\n"),
    # -- claims follow data ------------------------------------------------------------------
    Mutant("claim-without-after",
           "a batch's claim counts only at a replica that holds what came before it",
           "dwp/core/replica.py",
           "and node_of(origin) in self.peers and self.seen.get(origin, 0) >= after):",
           "and node_of(origin) in self.peers):"),
    Mutant("lost-disk-vouches",
           "a replica that lost its disk vouches for nothing outside its shard until "
           "anti-entropy gives it a peer's lineage",
           "dwp/core/replica.py",
           "Lineage(known=not (member and view.epoch > 1))",
           "Lineage(known=True)"),
    Mutant("vouch-for-unsealed-holders",
           "a replica vouches for an old holder's writes only once that holder sealed",
           "dwp/core/lineage.py",
           "        return node not in self.holders.get(partition, ())",
           "        return True"),
    Mutant("vouch-without-repair",
           "after a complete anti-entropy round a replica records that it has everything "
           "the peer had applied (only after repairing what differed)",
           "dwp/core/sessions.py",
           "    if root.digest != replica.digest():\n        theirs: dict[int, int] = yield",
           "    if False:\n        theirs: dict[int, int] = yield"),
    Mutant("pushed-writes-not-vouched",
           "after a complete anti-entropy round the peer too records that it has everything "
           "the replica had applied when the round began",
           "dwp/core/sessions.py",
           "    if root.replica:\n        yield AeSynced(",
           "    if False:\n        yield AeSynced("),
    Mutant("synced-by-a-lost-store",
           "a peer takes a round's last word only for the store the round compared, in the "
           "view it ran in",
           "dwp/core/replica.py",
           "        if to != self.id or epoch != self.view.epoch or peer not in self.peers:",
           "        if epoch != self.view.epoch or peer not in self.peers:"),
    Mutant("late-batch-applied",
           "the states of a shard-mate's batch that arrives after everything it covers "
           "was applied are dropped",
           "dwp/core/replica.py",
           "        for key, blob in () if late else states:",
           "        for key, blob in states:"),
    # -- causality ---------------------------------------------------------------------------
    Mutant("read-before-fresh",
           "a replica answers a token read only once it holds every write the token names",
           "dwp/core/answers.py",
           "return Fresh(get.need, get.wait, [p],",
           "return Fresh({}, get.wait, [p],"),
    Mutant("incarnation-reused",
           "a replica that loses its disk comes back under a new incarnation (kv679)",
           "dwp/core/replica.py",
           'f"{self.node_id}.{incarnation}"', 'f"{self.node_id}.0"'),
    # -- retries are idempotent ------------------------------------------------------------
    Mutant("retry-writes-twice",
           "a replica that already holds a write id answers the stored state",
           "dwp/core/replica.py",
           "        if holds_write(old, version.write_id):\n            return old\n"
           "        if context is None and need:",
           "        if context is None and need:"),
    Mutant("copies-of-one-write-stay-two",
           "siblings sharing a write id collapse to the one with the highest dot",
           "dwp/core/replica.py",
           "return state if len(kept) == len(state.siblings) else replace(state, siblings=kept)",
           "return state"),
    # -- durability ------------------------------------------------------------------------
    Mutant("commit-without-fsync",
           "a commit is on disk (synchronous=FULL) before anything is acknowledged",
           "dwp/node/sqlite.py",
           'conn.execute("PRAGMA synchronous=FULL")', 'conn.execute("PRAGMA synchronous=OFF")'),
    # -- replicas that saw the same writes keep the same history ----------------------------
    Mutant("history-outside-the-fingerprint",
           "a key's fingerprint covers the versions it keeps, so anti-entropy repairs a "
           "history that differs",
           "dwp/core/replica.py",
           "        e = entry_hash(key, blob) ^ kept\n",
           "        e = entry_hash(key, blob)\n"),
    Mutant("anti-entropy-sends-no-history",
           "anti-entropy, hand-offs and copies send a key's kept versions with its state",
           "dwp/core/replica.py",
           "item = self.whole(ref) if isinstance(ref, str) else self.store.get_chunk(ref)",
           "item = self.store.get_state(ref) if isinstance(ref, str) "
           "else self.store.get_chunk(ref)"),
    # -- garbage collection -------------------------------------------------------------------
    Mutant("collect-during-a-change",
           "a collection round removes nothing while a change or a hand-off is under way",
           "dwp/core/replica.py",
           "        if self.pending is not None:\n            return (f\"{self.node_id} has",
           "        return \"\"\n"
           "        if self.pending is not None:\n            return (f\"{self.node_id} has"),
    Mutant("own-shard-counts-as-unsealed",
           "collection waits only for old holders outside the shard that have not sealed",
           "dwp/core/replica.py",
           "if (node not in sealed and node not in self.shard_nodes\n",
           "if (node not in sealed\n"),
    Mutant("a-write-overwrites-what-it-did-not-see",
           "a write supersedes exactly the siblings its context has seen",
           "dwp/core/clock.py",
           "    kept = [s for s in state.siblings if not covers(seen, s.dot)]",
           "    kept: list[Sibling[V]] = []"),
    Mutant("deploy-refs-not-named",
           "a chunk any kept deploy's manifest references is not collected",
           "dwp/core/replica.py",
           "                    refs.update(s.value.named)",
           "                    refs.update(s.value.chunks or ())"),
    Mutant("sweep-within-grace",
           "the sweep removes nothing stored within the grace period",
           "dwp/core/replica.py",
           "            elif (stored_at >= before or len(out) >= limit",
           "            elif (len(out) >= limit"),
    Mutant("upload-does-not-renew",
           "a replica asked to store a chunk it already has renews its time",
           "dwp/core/replica.py",
           "        if self.store.has_chunk(chunk):\n"
           "            self.store.touch_chunk(chunk, self.now())\n"
           "        else:\n            self._save_chunk(chunk, data)\n"
           "        for peer in self.recipients(p):",
           "        if not self.store.has_chunk(chunk):\n"
           "            self._save_chunk(chunk, data)\n"
           "        for peer in self.recipients(p):"),
    Mutant("reap-before-every-replica-applied",
           "a delete is reaped only once every replica of its shard applied it",
           "dwp/core/replica.py",
           "vectors = [self.applied_now(), *(self.peer_applied.get(q) for q in self.peers)]",
           "vectors = [self.applied_now()]"),
    Mutant("reap-with-copies-of-a-rolled-back-change-out",
           "a delete is reaped only where no copy a rolled-back change made can come back",
           "dwp/core/replica.py",
           "        self._await_copies_of(proposal)\n",
           ""),
    Mutant("reap-what-a-replica-keeps",
           "each replica removes only the deleted keys all of its shard named",
           "dwp/client/gc.py",
           "            removable = {k for a in answers for k in a.keys\n"
           "                         if k not in kept and (end is None or k <= end)}",
           "            removable = {k for a in answers for k in a.keys\n"
           "                         if end is None or k <= end}"),
    # -- a forced removal lets the network go on -------------------------------------------
    Mutant("force-removes-a-live-node",
           "a forced removal is refused for a node that answers",
           "dwp/client/membership.py",
           "        if await self.client.node_info(node_id, ASK_TIMEOUT) is not None:",
           "        if False:"),
    Mutant("collection-waits-for-a-removed-node",
           "collection waits for no hand-off from a node removed by force",
           "dwp/core/replica.py",
           "                        and node not in self.view.removed):",
           "                        ):"),
    Mutant("reaping-waits-for-a-removed-node",
           "reaping waits for no hand-off from a node removed by force",
           "dwp/core/replica.py",
           "self.lineage.holders.get(p, frozenset()) - self.view.removed:",
           "self.lineage.holders.get(p, frozenset()):"),
    Mutant("removed-node-heard",
           "what a node removed by force sends is refused",
           "dwp/core/replica.py",
           "        return sender in self.view.removed",
           "        return False"),
    # -- node ids -------------------------------------------------------------------------------
    Mutant("node-id-given-out-again", "node ids are never given out twice",
           "dwp/core/view.py",
           "number = max([self.next_node, *(int(i[1:]) + 1 for i in taken if i[1:].isdigit())])",
           "number = min(set(range(1, 1000)) - {int(i[1:]) for i in taken})"),
]
