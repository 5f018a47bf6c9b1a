"""Direct calls to nodes living in this process: the transport of the tests and the simulator."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from dwp.core.messages import Message
from dwp.core.transport import Handler, Unreachable

R = TypeVar("R")


class LocalTransport:
    """Direct calls to nodes living in this process (tests and the simulator)."""

    def __init__(self, sender: str, nodes: dict[str, Handler]) -> None:
        self.sender = sender
        self.nodes = nodes  # shared: a node that is not in it is down

    def as_sender(self, sender: str) -> LocalTransport:
        return LocalTransport(sender, self.nodes)

    async def call(self, node: str, message: Message[R], timeout: float) -> R:
        target = self.nodes.get(node)
        if target is None:
            raise Unreachable(f"node {node} is down")
        try:
            return await asyncio.wait_for(target.handle(self.sender, message), timeout)
        except TimeoutError as exc:
            raise Unreachable(f"node {node} did not answer within {timeout}s") from exc
