"""Every AuditLog adapter passes the AuditLog contract."""

from ordergate.application.testing.contracts import AuditLogContract


class TestAuditLogContract(AuditLogContract):
    """The in-memory log and the persistent stores, through their harnesses."""
