"""PostgreSQL audit log (psycopg 3): the AuditLog contract for many processes."""
