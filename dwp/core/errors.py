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


class NotOwner(DwpError):
    """The node does not own the key's partition in its view, which it sends along."""

    def __init__(self, view_json: str) -> None:
        super().__init__("this node does not own the partition in its view")
        self.view_json = view_json

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (NotOwner, (self.view_json,))


class ChangeFailed(DwpError):
    """A view change could not complete; the old view stays in force."""


class ChangeRefused(DwpError):
    """A node refused a proposal: another change is prepared, or its base view is old."""
