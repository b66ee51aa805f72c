"""`SqliteAuditLogHarness`: how the AuditLog contract suite drives `SqliteAuditLog`.

It matches `ordergate.application.testing.harness.AuditLogHarness` structurally (no import of the
application layer: adapters depend on ports and the domain only). Tampering goes behind the
log's back with a plain sqlite3 connection, dropping and restoring the guard triggers.

Test support only: nothing here may be used to change a production audit file.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.adapters.sqlite.schema import TRIGGERS, drop_triggers
from ordergate.ports.audit_log import AuditLog

__all__ = ["SqliteAuditLogHarness", "tamper_body"]


def _flip_ts_digit(body: bytes) -> bytes:
    """Flip the last microsecond digit of `ts` (body ends `…ffffff+00:00"}`): still valid JSON."""
    index = len(body) - len(b'+00:00"}') - 1
    digit = body[index] - ord("0")
    return body[:index] + bytes([ord("0") + (digit ^ 1)]) + body[index + 1 :]


def tamper_body(path: Path, sequence: int, new_body: bytes | None = None) -> None:
    """Rewrite record `sequence`'s stored body behind the log's back (triggers lifted briefly).

    Without `new_body`, one byte changes (a timestamp digit, so the record still parses).
    """
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT body FROM audit_log WHERE seq = ?", (sequence,)).fetchone()
            if row is None:
                raise KeyError(f"no audit record {sequence} in {path}")
            body = _flip_ts_digit(bytes(row[0])) if new_body is None else new_body
            drop_triggers(conn)
            conn.execute("UPDATE audit_log SET body = ? WHERE seq = ?", (body, sequence))
            for ddl in TRIGGERS.values():
                conn.execute(ddl)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class SqliteAuditLogHarness:
    """Controls around one `SqliteAuditLog` in a temporary directory."""

    def __init__(self, path: Path, audit_log: SqliteAuditLog, hmac_key: bytes | None) -> None:
        self.path = path
        self.audit_log: AuditLog = audit_log
        self._log = audit_log
        self._key = hmac_key

    @classmethod
    async def create(
        cls, tmp_path: Path, *, hmac_key: bytes | None = None, name: str = "audit.sqlite3"
    ) -> SqliteAuditLogHarness:
        """A fresh log file under `tmp_path`."""
        path = Path(tmp_path) / name
        return cls(path, await SqliteAuditLog.open(path, hmac_key=hmac_key), hmac_key)

    async def tamper(self, sequence: int) -> None:
        """Change one stored byte of record `sequence` behind the log's back."""
        await asyncio.to_thread(tamper_body, self.path, sequence)

    async def reopen(self) -> AuditLog:
        """Close and open the same file again (durability across restarts)."""
        await self._log.close()
        self._log = await SqliteAuditLog.open(self.path, hmac_key=self._key)
        self.audit_log = self._log
        return self._log

    async def close(self) -> None:
        """Close the log (the file stays in the temporary directory)."""
        await self._log.close()
