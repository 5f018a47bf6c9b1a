"""HTTP gateway: the web browser UI and the API over a dwp network."""

from gateway.app import GatewaySettings, create_app
from gateway.context import Network

__all__ = ["GatewaySettings", "Network", "create_app"]
