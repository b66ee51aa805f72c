"""application layer of ordergate."""
