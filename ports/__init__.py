"""ports layer of ordergate."""
