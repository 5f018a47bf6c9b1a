"""How messages reach a node: one typed interface, over Ray or in memory.

A transport delivers a ``dwp.messages`` message to the node named and answers its
reply. A node's refusal (``DwpError``: not the owner, a refused change, a cut link)
comes back as that error; a node that cannot be reached in time is ``Unreachable``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from dwp.errors import DwpError
from dwp.messages import Message


class Unreachable(DwpError):
    """The node did not answer: it is down, restarting, or too slow."""


class Transport(Protocol):
    async def call(self, node: str, message: Message, timeout: float) -> Any: ...


class Handler(Protocol):
    async def handle(self, sender: str, message: Message) -> Any: ...


class LocalTransport:
    """Direct calls to nodes living in this process (tests and the simulator)."""

    def __init__(self, sender: str, nodes: dict[str, Handler]) -> None:
        self.sender = sender
        self.nodes = nodes  # shared: a node that is not in it is down

    def as_sender(self, sender: str) -> LocalTransport:
        return LocalTransport(sender, self.nodes)

    async def call(self, node: str, message: Message, timeout: float) -> Any:
        target = self.nodes.get(node)
        if target is None:
            raise Unreachable(f"node {node} is down")
        try:
            return await asyncio.wait_for(target.handle(self.sender, message), timeout)
        except TimeoutError as exc:
            raise Unreachable(f"node {node} did not answer within {timeout}s") from exc
