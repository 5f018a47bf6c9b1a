"""Per-node write batching in the client: writes bound for one node share actor calls.

While a call to a node is in flight, further writes for that node queue here; when it
returns, whatever queued goes in one ``Batch`` message (up to ``max_bytes`` and
``max_writes``), which the node applies in one group commit. A lone write still goes
at once and alone, so a single client pays nothing for it; 32 concurrent clients cost
a few calls per round trip instead of 32. A write over half a message (a full 64 KiB
chunk) always goes at once and alone, as before: it could share a message with nothing
its size, and several of them travel in parallel. Each write is answered, or fails, on its own:
a refusal is that write's alone, and a node that cannot be reached fails every write
of the call, each of which then moves on to another replica as it would have alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dwp.core.errors import DwpError
from dwp.core.messages import MAX_MESSAGE_BYTES, Batch, Delete, Message, PutChunks, Write

MAX_WRITES = 128
OVERHEAD = 256  # bytes a write costs beyond its key and data, roughly


def size_of(write: Write) -> int:
    """About how many bytes ``write`` adds to a message."""
    if isinstance(write, PutChunks):
        return OVERHEAD + sum(len(c) + len(d) for c, d in write.chunks)
    if isinstance(write, Delete):
        return OVERHEAD + len(write.key)
    v = write.version
    return OVERHEAD + len(write.key) + len(v.data or b"") + 32 * len(v.named)


@dataclass
class _Queued:
    write: Write
    size: int
    timeout: float
    answer: asyncio.Future[Any]


@dataclass
class _Lane:
    """One node's queue and how many calls to it are in flight."""

    queued: list[_Queued] = field(default_factory=list)
    in_flight: int = 0


class Batcher:
    """``send`` is the transport's call (node, message, timeout)."""

    def __init__(self, send: Callable[[str, Message, float], Awaitable[Any]], *,
                 in_flight: int = 1, max_bytes: int = MAX_MESSAGE_BYTES,
                 max_writes: int = MAX_WRITES) -> None:
        self._send = send
        self.in_flight, self.max_bytes, self.max_writes = in_flight, max_bytes, max_writes
        self._lanes: dict[str, _Lane] = {}

    async def call(self, node: str, write: Write, timeout: float) -> Any:
        """``write``'s reply from ``node``, sent alone or with others queued for it. A
        write too large to share a message with another its size (a full chunk) goes at
        once: queueing it would only serialize the large writes for a node."""
        size = size_of(write)
        if size > self.max_bytes // 2:
            return await self._send(node, write, timeout)
        lane = self._lanes.setdefault(node, _Lane())
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane.queued.append(_Queued(write, size, timeout, answer))
        if lane.in_flight < self.in_flight:
            lane.in_flight += 1
            asyncio.get_running_loop().create_task(self._drain(node, lane))
        return await answer

    def _take(self, lane: _Lane) -> list[_Queued]:
        """The next call's writes: in order, within the bounds (one at least); writes
        whose caller stopped waiting are dropped, as a cancelled call never went out."""
        lane.queued = [q for q in lane.queued if not q.answer.done()]
        taken: list[_Queued] = []
        size = 0
        for q in lane.queued:
            if taken and (len(taken) >= self.max_writes or size + q.size > self.max_bytes):
                break
            taken.append(q)
            size += q.size
        del lane.queued[:len(taken)]
        return taken

    async def _drain(self, node: str, lane: _Lane) -> None:
        try:
            while taken := self._take(lane):
                await self._call(node, taken)
        finally:
            lane.in_flight -= 1
            if not lane.queued and not lane.in_flight:
                self._lanes.pop(node, None)

    async def _call(self, node: str, taken: list[_Queued]) -> None:
        timeout = max(q.timeout for q in taken)
        message: Message = (taken[0].write if len(taken) == 1
                            else Batch([q.write for q in taken]))
        try:
            reply = await self._send(node, message, timeout)
        except BaseException as exc:  # cancelled too: no caller may wait forever
            for q in taken:
                _settle(q.answer, error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        if len(taken) == 1:
            _settle(taken[0].answer, reply)
            return
        for q, one in zip(taken, reply, strict=True):
            if isinstance(one, DwpError):
                _settle(q.answer, error=one)
            else:
                _settle(q.answer, one)


def _settle(answer: asyncio.Future[Any], value: Any = None,
            error: BaseException | None = None) -> None:
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(value)
