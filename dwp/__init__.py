"""dwp core: causality, placement, replicas, the durable store and the network client."""
