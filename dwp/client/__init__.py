"""Talking to a network of nodes: ``NetworkClient`` (routing, failover, content, tokens),
the per-node write batcher, the gateway's caches, view changes and garbage collection."""
