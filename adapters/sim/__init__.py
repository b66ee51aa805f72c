"""Deterministic simulated broker, market-data replay and option pricing."""
