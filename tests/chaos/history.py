"""The recorded history: every operation's invocation, outcome, token and value, and
the clients that produce it.

Each key has one writer client that writes the values ``key=1``, ``key=2``, ... in
order (a delete takes the next index too), so a value names exactly one write and the
checker can tell older from newer without guessing.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from dwp.core.lineage import node_of
from dwp.core.token import TokenCodec

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
DEFINITE_FAILURES = {400, 401, 404, 409, 413, 421}  # answered before anything was written


@dataclass
class Op:
    """One operation. ``index`` is the mutation index written or deleted, or for a read
    the index read (0: absent, -1: unreadable value); ``known`` is the reader's floor."""

    client: int
    kind: str  # "write" | "delete" | "read"
    key: str
    index: int
    invoked: float
    completed: float = 0.0
    outcome: str = UNKNOWN
    status: int = 0
    node: str = ""
    token_in: str = ""
    token_out: str = ""
    known: int = 0
    raw: bytes = b""
    writer: str = ""  # the replica id that issued an acknowledged mutation's dot


@dataclass
class History:
    """Operations in invocation order, plus what each write knew (its causal floors)."""

    ops: list[Op] = field(default_factory=list)
    deps: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    events: list[tuple[float, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: Op) -> Op:
        with self._lock:
            self.ops.append(op)
        return op

    def note(self, text: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), text))

    def keys(self) -> set[str]:
        return {op.key for op in self.ops}


def name_writers(history: History, tokens: TokenCodec) -> None:
    """Fill in which replica issued each acknowledged mutation's dot: the coordinator's
    entry that the key's context in the answered token holds beyond the token sent."""
    for op in history.ops:
        if op.kind == "read" or op.outcome != OK or not op.token_out:
            continue
        before = tokens.decode(op.token_in).need()
        after = tokens.decode(op.token_out).key_context
        op.writer = next((r for r, c in after.items()
                          if node_of(r) == op.node and c > before.get(r, 0)), "")


def value_of(key: str, index: int) -> bytes:
    return f"{key}={index}".encode()


def index_of(key: str, body: bytes) -> int:
    """The write index a value names, or -1 when the value was never written by anyone."""
    head, _, tail = body.decode(errors="replace").rpartition("=")
    return int(tail) if head == key and tail.isdigit() else -1


class Client:
    """One session: its own keys, its own context token sent back on every request, and
    the floor of each key it knows (the newest index it wrote or read, directly or
    through the dependencies of a write it read)."""

    def __init__(self, cid: int, url: str, auth: dict[str, str], history: History,
                 own: list[str], everyone: list[str], rng: random.Random) -> None:
        self.cid, self.url, self.auth, self.history = cid, url, auth, history
        self.own, self.everyone, self.rng = own, everyone, rng
        self.token = ""
        self.floor: dict[str, int] = {}
        self.next_index = dict.fromkeys(own, 1)

    def run(self, until: float, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.url, timeout=15) as http:
            while time.monotonic() < until and not stop.is_set():
                roll = self.rng.random()
                key = self.rng.choice(self.own)
                if roll < 0.4:
                    self.write(http, key)
                elif roll < 0.5:
                    if self.read(http, key).index > 0:
                        self.delete(http, key)
                elif roll < 0.75:
                    self.read(http, key)
                else:
                    self.read(http, self.rng.choice(self.everyone))

    def _headers(self, write: bool) -> dict[str, str]:
        headers = {"X-DWP-Context": self.token} if self.token else {}
        return {**headers, **self.auth} if write else headers

    def _send(self, http: httpx.Client, op: Op, method: str, **kwargs: object) -> int:
        """Send and classify; on success keep the token the gateway answered."""
        try:
            r = http.request(method, f"/api/v1/objects/{op.key}",
                             headers=self._headers(op.kind != "read"), **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            op.completed, op.outcome = time.monotonic(), UNKNOWN
            time.sleep(0.1)  # the gateway is restarting: do not spin
            return 0
        op.completed, op.status = time.monotonic(), r.status_code
        op.node = r.headers.get("x-dwp-node", "")
        if r.status_code in (200, 204):
            op.outcome = OK
            self.token = op.token_out = r.headers.get("x-dwp-context", self.token)
            op.raw = r.content
        elif r.status_code in DEFINITE_FAILURES:
            op.outcome = FAIL
        return r.status_code

    def _mutation(self, kind: str, key: str) -> Op:
        index = self.next_index[key]
        self.next_index[key] = index + 1
        if kind == "write":
            self.history.deps[(key, index)] = {**self.floor, key: index}
        return self.history.add(Op(self.cid, kind, key, index, time.monotonic(),
                                   token_in=self.token, known=self.floor.get(key, 0)))

    def write(self, http: httpx.Client, key: str) -> Op:
        op = self._mutation("write", key)
        self._send(http, op, "PUT", content=value_of(key, op.index))
        if op.outcome == OK:
            self.floor[key] = max(self.floor.get(key, 0), op.index)
        return op

    def delete(self, http: httpx.Client, key: str) -> Op:
        op = self._mutation("delete", key)
        if self._send(http, op, "DELETE") == 404:
            op.outcome = UNKNOWN  # a replica that died mid-delete may have applied it
        if op.outcome == OK:
            self.floor[key] = max(self.floor.get(key, 0), op.index)
        return op

    def read(self, http: httpx.Client, key: str) -> Op:
        op = self.history.add(Op(self.cid, "read", key, 0, time.monotonic(),
                                 token_in=self.token, known=self.floor.get(key, 0)))
        status = self._send(http, op, "GET")
        if status == 404:
            op.outcome = OK
        elif op.outcome == OK:
            op.index = index_of(key, op.raw)
            if op.index > 0:
                for k, f in self.history.deps.get((key, op.index), {key: op.index}).items():
                    self.floor[k] = max(self.floor.get(k, 0), f)
        return op


def run_clients(url: str, auth: dict[str, str], history: History, prefix: str,
                clients: int, keys_each: int, seconds: float, seed: int,
                stop: threading.Event) -> list[Client]:
    """Start ``clients`` sessions for ``seconds``; answers them once all have finished."""
    own = [[f"{prefix}/c{c}/k{j}" for j in range(keys_each)] for c in range(clients)]
    everyone = [k for keys in own for k in keys]
    sessions = [Client(c, url, auth, history, own[c], everyone, random.Random(f"{seed}/{c}"))
                for c in range(clients)]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=s.run, args=(until, stop), daemon=True)
               for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return sessions
