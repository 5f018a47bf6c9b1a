"""The gateway caches: bounded staleness, never older than the reader's token."""

from __future__ import annotations

from dwp.client.cache import ChunkCache, ReadCache
from dwp.core.clock import KeyState


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_serves_only_while_fresh_and_only_readers_it_covers() -> None:
    clock = Clock()
    cache = ReadCache(ttl=1.0, clock=clock)
    cache.store("k", cache.generation("k"), 0, "n1", KeyState(), {"a": 5})
    assert cache.lookup("k", {}) is not None
    assert cache.lookup("k", {"a": 5}) is not None
    assert cache.lookup("k", {"a": 6}) is None  # the reader has seen more than the entry
    assert cache.lookup("k", {"b": 1}) is None
    clock.now = 1.5
    assert cache.lookup("k", {}) is None  # too old


def test_a_write_invalidates_and_a_read_in_flight_is_not_stored() -> None:
    cache = ReadCache(ttl=10.0, clock=Clock())
    cache.store("k", cache.generation("k"), 0, "n1", KeyState(), {})
    before = cache.generation("k")
    cache.invalidate("k")
    assert cache.lookup("k", {}) is None
    cache.store("k", before, 0, "n1", KeyState(), {})  # read that started before the write
    assert cache.lookup("k", {}) is None


def test_capacity_and_zero_ttl() -> None:
    cache = ReadCache(ttl=10.0, capacity=2, clock=Clock())
    for key in "abc":
        cache.store(key, 0, 0, "n1", KeyState(), {})
    assert cache.lookup("a", {}) is None and cache.lookup("c", {}) is not None
    off = ReadCache(ttl=0.0)
    off.store("k", 0, 0, "n1", KeyState(), {})
    assert off.lookup("k", {}) is None


def test_chunk_cache_is_bounded_in_bytes() -> None:
    cache = ChunkCache(max_bytes=10)
    cache.put(b"a", b"12345")
    cache.put(b"b", b"12345")
    assert cache.get(b"a") == b"12345"
    cache.put(b"c", b"123")  # evicts the least recently used: b
    assert cache.get(b"b") is None and cache.get(b"a") and cache.get(b"c")
    cache.put(b"big", b"x" * 11)
    assert cache.get(b"big") is None
