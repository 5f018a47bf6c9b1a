"""Reads of keys that are usually missing (a site's ``_headers``, a file's ``.br`` and
``.gz`` siblings), answered without asking a replica each time.

A page answer may depend on such a key, so every page would cost a replica round trip
for each of them. The client's read cache remembers keys it found; ``Absences`` remembers
keys a read found missing, with the same bounded staleness: for the read cache's TTL,
and only while no write through this gateway touched the key (the generation the cache
takes before a read), and only for a reader with no causal past (a token may require a
write this gateway has not seen, so that reader asks a replica).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dwp.client.network import NetworkClient, ReadResult
from dwp.core.errors import NotFound
from dwp.core.token import Token
from gateway.context import one_per_client

MAX_ENTRIES = 10_000


class Absences:
    def __init__(self, client: NetworkClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.clock = client, clock
        self._missing: dict[str, tuple[int, float]] = {}  # key: (generation, when)

    def known_missing(self, key: str) -> bool:
        """A read found ``key`` missing within the TTL, and no write came since."""
        seen = self._missing.get(key)
        reads = self.client.reads
        return (seen is not None and seen[0] == reads.generation(key)
                and self.clock() - seen[1] <= reads.ttl)

    async def read(self, key: str, token: Token, pinned: str | None) -> ReadResult | None:
        """``key``'s state when it has a live version, else None."""
        plain = pinned is None and not token.need()
        if plain and self.known_missing(key):
            return None
        generation = self.client.reads.generation(key)
        try:
            result = await self.client.get(key, token, pinned)
        except NotFound:
            result = None
        if result is not None and result.versions:
            return result
        if plain and self.client.reads.ttl > 0:  # never written, or deleted
            if len(self._missing) >= MAX_ENTRIES:
                self._missing.clear()
            self._missing[key] = (generation, self.clock())
        return None


absences = one_per_client(Absences)
