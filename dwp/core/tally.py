"""What the last whole collection round found on a replica, in bytes: the figures a
node reports as ``NodeInfo.bytes`` (live, history, garbage, disk).

The store keeps exact sizes (``Usage``); which chunks are garbage (no version names
them) or history's (only kept versions name them) is known only from a round's sweep,
so a replica keeps the last round's findings here, in memory (a restart forgets them
until the next round)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dwp.core.store import Usage


@dataclass
class Tally:
    """A round sweeps ranges in hash order, from the start (``lo`` empty) to the end
    (``hi`` None), each once or twice (what may go, then what goes): the last word on a
    range counts, and the totals change only when a round reaches the end."""

    garbage: int = 0
    history: int = 0
    _ranges: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def note(self, lo: bytes, hi: bytes | None, garbage: int, history: int) -> None:
        if not lo:
            self._ranges.clear()
        self._ranges[lo] = (garbage, history)
        if hi is None:
            self.garbage = sum(g for g, _ in self._ranges.values())
            self.history = sum(h for _, h in self._ranges.values())

    def bytes(self, usage: Usage) -> dict[str, int]:
        """The store's sizes split by the last round's findings, each bounded by what the
        store holds now (chunks may have gone since)."""
        kept = min(self.history, usage.chunk_bytes)
        garbage = min(self.garbage, usage.chunk_bytes - kept)
        return {"live": usage.state_bytes + usage.chunk_bytes - kept - garbage,
                "history": usage.history_bytes + kept, "garbage": garbage,
                "disk": usage.disk}
