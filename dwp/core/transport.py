"""How messages reach a node: one typed interface, over Ray or in memory.

A transport delivers a ``dwp.core.messages`` message to the node named and answers its
reply, of the type the message names. A node's refusal (``DwpError``: not the owner, a
refused change, a cut link) comes back as that error; a node that cannot be reached in
time is ``Unreachable``. This module is the interface only: the Ray transport is in
``dwp.node.actor``, the in-process one in ``dwp.node.local_transport``.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from dwp.core.errors import DwpError
from dwp.core.messages import Message

R = TypeVar("R")


class Unreachable(DwpError):
    """The node did not answer: it is down, restarting, or too slow."""


class Transport(Protocol):
    """Answers the reply type the message names (``Message[R]``)."""

    async def call(self, node: str, message: Message[R], timeout: float) -> R: ...


class Handler(Protocol):
    async def handle(self, sender: str, message: Message[R]) -> R: ...
