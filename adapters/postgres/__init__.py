"""PostgreSQL audit log (psycopg 3): the AuditLog contract for many processes."""

from ordergate.adapters.postgres.audit_log import (
    PostgresAuditConfig,
    PostgresAuditLog,
    redact_dsn,
)
from ordergate.adapters.serialization import AuditStoreError, RetentionViolation

__all__ = [
    "AuditStoreError",
    "PostgresAuditConfig",
    "PostgresAuditLog",
    "RetentionViolation",
    "redact_dsn",
]
