"""dwp: a replicated, sharded, durable key-value store for web pages shared by trusted peers.

The package has three floors. ``dwp.core`` is the protocol with no I/O (clocks, placement,
views, the replica state machine, the sessions between replicas, the messages);
``dwp.node`` runs a replica (the node loop, SQLite, the Ray actor); ``dwp.client`` talks to
a network of nodes (routing, content, caches, membership, garbage collection).
``dwp.local`` wires them together on one machine.

The names below are the public face. They are imported on first use, so that importing a
core module never pulls in the client's or the node's I/O.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dwp.client.network import NetworkClient
    from dwp.core.errors import (
        ChangeFailed,
        ChangeRefused,
        DwpError,
        NotFound,
        NotOwner,
        Stale,
        Unavailable,
        WrongReplica,
    )
    from dwp.core.keys import InvalidKey, validate_key
    from dwp.core.token import Token, TokenError
    from dwp.core.view import View

_WHERE = {
    "NetworkClient": "dwp.client.network",
    "Token": "dwp.core.token",
    "TokenError": "dwp.core.token",
    "View": "dwp.core.view",
    "InvalidKey": "dwp.core.keys",
    "validate_key": "dwp.core.keys",
    **{name: "dwp.core.errors" for name in (
        "DwpError", "NotFound", "NotOwner", "Stale", "Unavailable", "WrongReplica",
        "ChangeRefused", "ChangeFailed")},
}

__all__ = ["ChangeFailed", "ChangeRefused", "DwpError", "InvalidKey", "NetworkClient", "NotFound",
           "NotOwner", "Stale", "Token", "TokenError", "Unavailable", "View", "WrongReplica",
           "validate_key"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'dwp' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
