"""Background work: the outbox relay and the periodic sweeps."""
