"""The dwp command: run a network, publish, fetch and view pages."""
