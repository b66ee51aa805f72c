"""Interactive Brokers adapter on ib_async (the only place ib_async is imported)."""
