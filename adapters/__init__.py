"""adapters layer of ordergate."""
