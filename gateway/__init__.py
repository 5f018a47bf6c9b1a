"""HTTP gateway: the web browser UI and the API over a dwp network."""

from gateway.app import GatewaySettings, create_app

__all__ = ["GatewaySettings", "create_app"]
