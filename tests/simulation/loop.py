"""An asyncio event loop on virtual time: when nothing is ready, time jumps to the next
timer instead of waiting, so hours of timeouts, retries and background rounds run in
milliseconds, and the order of events depends only on the program and its seed.

A *step* is everything that happens at one instant: once nothing more is ready at it,
``VirtualLoop.on_step`` runs (the simulator checks its invariants there), then time
jumps."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class _NoIO(selectors.BaseSelector):
    """A selector with nothing to wait for: ``select`` advances the loop's clock."""

    def __init__(self, loop: VirtualLoop) -> None:
        self._loop = loop
        self._keys: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, fileobj if isinstance(fileobj, int)
                                    else fileobj.fileno(), events, data)
        self._keys[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("the simulation has nothing left to do: every task waits "
                               "forever")
        if timeout > 0:
            self._loop.on_step()
        self._loop.advance(timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = 0.0
        self.on_step: Callable[[], None] = lambda: None
        super().__init__(selector=_NoIO(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh virtual-time loop, then end whatever it left running
    (node loops run forever)."""
    loop = VirtualLoop()
    try:
        async def wrapped() -> T:
            return await main()
        return loop.run_until_complete(wrapped())
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.wait(tasks, timeout=60.0))
        loop.close()
