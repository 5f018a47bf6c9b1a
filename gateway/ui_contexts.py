"""The UI's causal contexts, kept in the gateway so the UI's cookie holds only an id.

A context token grows with the network (a counter per replica, up to MAX_TOKEN_CHARS),
and browsers drop a cookie over 4 KB, so a UI write keeps its token here, under a
random id that is the whole ``dwp_context`` cookie. The store is bounded: at most
``MAX_CONTEXTS`` tokens of at most ``MAX_TOKEN_CHARS`` characters (8 MiB), the least
recently used dropped first. An unknown id (evicted, or from before a gateway restart)
reads as no context, never as someone else's: ids are issued here, never taken from a
request.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from fastapi import Request

MAX_CONTEXTS = 1024
ID_BYTES = 16  # 128 random bits: an id cannot be guessed to borrow another browser's past


class Contexts:
    """Encoded context tokens by cookie id, least recently used first; only the event
    loop touches it (every caller is an async route), so it needs no lock."""

    def __init__(self, cap: int = MAX_CONTEXTS) -> None:
        self._cap = cap
        self._tokens: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tokens)

    def get(self, cookie_id: str | None) -> str | None:
        """The token kept under ``cookie_id``, or None if that id is not (or no longer) ours."""
        if cookie_id is None or cookie_id not in self._tokens:
            return None
        self._tokens.move_to_end(cookie_id)
        return self._tokens[cookie_id]

    def keep(self, cookie_id: str | None, token: str) -> str:
        """Keep ``token`` under ``cookie_id`` if this store holds it, else under a new id;
        answers the id the cookie should hold."""
        if cookie_id is None or cookie_id not in self._tokens:
            cookie_id = secrets.token_urlsafe(ID_BYTES)
        self._tokens[cookie_id] = token
        self._tokens.move_to_end(cookie_id)
        while len(self._tokens) > self._cap:
            self._tokens.popitem(last=False)
        return cookie_id


def contexts_of(request: Request) -> Contexts:
    """The gateway's one store: a UI that switches network keeps its id (the token it
    names is then another network's, so it reads as none)."""
    contexts: Contexts = request.app.state.contexts
    return contexts
