"""SQLite audit log: append-only, hash-chained, WAL, group commit."""
