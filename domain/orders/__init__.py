"""Orders: requests, the order aggregate and its transition table, fills, brackets and OCA groups."""
