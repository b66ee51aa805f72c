"""SQLite audit log: append-only, hash-chained, WAL, group commit."""

from ordergate.adapters.serialization import AuditStoreError, RetentionViolation
from ordergate.adapters.sqlite.audit_log import SqliteAuditConfig, SqliteAuditLog

__all__ = ["AuditStoreError", "RetentionViolation", "SqliteAuditConfig", "SqliteAuditLog"]
