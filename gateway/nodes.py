"""Adding and removing a node, which the network API and the UI's forms both do: each
drives the network's ``Membership`` and answers the network's status after the change."""

from __future__ import annotations

from dwp.client.membership import Membership
from dwp.client.status import NetworkStatus
from gateway.context import Network
from gateway.errors import ApiError


def membership_of(network: Network) -> Membership:
    """The network's membership, 501 for a gateway that cannot change the network."""
    if network.membership is None:
        raise ApiError(501, "not supported", "this gateway cannot change the network")
    return network.membership


async def add(network: Network, host: str | None) -> NetworkStatus:
    """Add a node on ``host`` (None: the gateway's own) once its data is streamed to it."""
    await membership_of(network).join(host)
    return await network.client.status()


async def remove(network: Network, node_id: str, force: bool = False) -> NetworkStatus:
    """Hand the node's data off and remove it; ``force``: a dead one, re-replicated."""
    await membership_of(network).leave(node_id, force=force)
    return await network.client.status()
