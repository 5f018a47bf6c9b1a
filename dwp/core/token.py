"""The context token: a client's causal past, opaque, compact and signed.

It carries one version vector (an entry per replica, never a clock per key; its format
keeps it in a map by shard, which ``compact`` collapses to one entry) plus, optionally,
the exact causal context of the one key the client touched last, so a read-modify-write
of that key supersedes exactly what the client saw. It is signed with a key derived
from the network token, so a forged or damaged token is refused instead of making
replicas wait for writes that never happened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

import msgpack

from dwp.core.clock import join
from dwp.core.codec import Causal, causal_in, causal_out

FORMAT = 1
MAC_BYTES = 12
MAX_TOKEN_CHARS = 8192


class TokenError(ValueError):
    """The token is malformed, from another network, or tampered with."""


def key_tag(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=8).digest()


@dataclass(frozen=True)
class Token:
    causal: Causal = field(default_factory=dict)
    key: bytes | None = None  # key_tag of the key whose context is in key_context
    key_context: dict[str, int] = field(default_factory=dict)

    def context_for(self, key: str) -> dict[str, int] | None:
        """The exact context this client saw of ``key``, or None for a blind write."""
        return dict(self.key_context) if self.key == key_tag(key) else None

    def compact(self) -> Token:
        """The same causal past in one vector: one entry per replica, however many
        shards it was seen through (reads check the whole vector, see ``need``)."""
        vv = self.need()
        return Token({0: vv} if vv else {}, self.key, self.key_context)

    def need(self) -> dict[str, int]:
        """Every write this client has seen, whichever shard held it then: a partition
        may have moved since, so a replica checks all of them (``Replica.fresh`` skips the
        writers that never held the partition it serves)."""
        return join(*self.causal.values())

    def with_context_of(self, other: Token) -> Token:
        """This past joined with ``other``'s, writing ``other``'s key with the context
        ``other`` saw of it: a write that supersedes what an earlier read saw and no more,
        whatever was read and written since."""
        causal = {s: join(self.causal.get(s, {}), other.causal.get(s, {}))
                  for s in {*self.causal, *other.causal}}
        return Token(causal, other.key, dict(other.key_context))

    def observe(self, shard: int, key: str, context: dict[str, int],
                deps: list[Causal]) -> Token:
        """The token after reading or writing ``key``: it now covers that state too."""
        causal = {s: dict(vv) for s, vv in self.causal.items()}
        for dep in deps:
            for s, vv in dep.items():
                causal[s] = join(causal.get(s, {}), vv)
        causal[shard] = join(causal.get(shard, {}), context)
        return Token(causal, key_tag(key), dict(context))


class TokenCodec:
    """Signs and checks tokens with a key derived from the network's secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.blake2b(secret.encode(), person=b"dwp-context", digest_size=32).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, "blake2b").digest()[:MAC_BYTES]

    def encode(self, token: Token) -> str:
        body = msgpack.packb(
            [FORMAT, causal_out(token.causal), token.key,
             sorted(token.key_context.items())], use_bin_type=True)
        text = base64.urlsafe_b64encode(body + self._mac(body)).decode().rstrip("=")
        if len(text) > MAX_TOKEN_CHARS:
            raise TokenError(f"the context token would be {len(text)} characters, over the "
                             f"{MAX_TOKEN_CHARS} this network accepts")
        return text

    def decode(self, text: str | None) -> Token:
        if not text:
            return Token()
        if len(text) > MAX_TOKEN_CHARS:
            raise TokenError("the context token is too long")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise TokenError("the context token is not valid base64url") from exc
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if len(raw) <= MAC_BYTES or not hmac.compare_digest(mac, self._mac(body)):
            raise TokenError("the context token was not issued by this network")
        try:
            fmt, causal, key, key_context = msgpack.unpackb(body, raw=False)
            if fmt != FORMAT:
                raise TokenError(f"unknown context token format {fmt}")
            return Token(causal_in(causal), key, {str(r): int(c) for r, c in key_context})
        except TokenError:
            raise
        except Exception as exc:
            raise TokenError("the context token is malformed") from exc
