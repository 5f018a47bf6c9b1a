"""A fault-injection campaign: concurrent HTTP clients record a history while nemeses
break the network, and a checker judges the history once everything has healed."""
