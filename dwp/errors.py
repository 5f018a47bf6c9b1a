"""Errors the core raises for conditions a client can act on."""

from __future__ import annotations


class DwpError(Exception):
    """Base of errors that carry a message meant for the user."""


class Unavailable(DwpError):
    """No replica that could serve the request answered in time."""


class Stale(DwpError):
    """Every reachable replica is behind what the client's token has seen; retry soon."""


class WrongReplica(DwpError):
    """A request pinned to a node that does not hold the key's shard."""


class Partitioned(DwpError):
    """A replica-to-replica message crossed a fault-injection partition."""


class NotFound(DwpError):
    """No live version of the key exists."""
