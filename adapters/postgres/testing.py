"""`PostgresAuditLogHarness`: how the AuditLog contract suite drives `PostgresAuditLog`.

Each harness owns a fresh schema (`ordergate_test_<random>`) so tests never see each other's
records, and drops it on `close`. It matches `ordergate.application.testing.harness.AuditLogHarness`
structurally. Tampering disables the guard trigger inside one transaction, behind the log's back.

Test support only: nothing here may be pointed at a production chain.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from ordergate.adapters.postgres.audit_log import PostgresAuditLog
from ordergate.adapters.postgres.schema import Names
from ordergate.ports.audit_log import AuditLog

__all__ = ["PostgresAuditLogHarness", "drop_schema", "tamper_body"]


def _flip_ts_digit(body: bytes) -> bytes:
    """Flip the last microsecond digit of `ts` (body ends `…ffffff+00:00"}`): still valid JSON."""
    index = len(body) - len(b'+00:00"}') - 1
    digit = body[index] - ord("0")
    return body[:index] + bytes([ord("0") + (digit ^ 1)]) + body[index + 1 :]


async def tamper_body(dsn: str, names: Names, sequence: int, new_body: bytes | None = None) -> None:
    """Rewrite record `sequence`'s body with the guard trigger disabled for one transaction.

    Without `new_body`, one byte changes (a timestamp digit, so the record still parses).
    """
    trigger = names.trigger("guard")
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        row = await (
            await conn.execute(
                sql.SQL("SELECT body FROM {} WHERE seq = %s").format(names.log), (sequence,)
            )
        ).fetchone()
        if row is None:
            raise KeyError(f"no audit record {sequence} in {names.schema}.{names.table}")
        body = _flip_ts_digit(bytes(row[0])) if new_body is None else new_body
        await conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(names.log, trigger))
        await conn.execute(
            sql.SQL("UPDATE {} SET body = %s WHERE seq = %s").format(names.log), (body, sequence)
        )
        await conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(names.log, trigger))


class PostgresAuditLogHarness:
    """Controls around one `PostgresAuditLog` in a schema of its own."""

    def __init__(self, dsn: str, names: Names, log: PostgresAuditLog, key: bytes | None) -> None:
        self.dsn = dsn
        self.names = names
        self.audit_log: AuditLog = log
        self._log = log
        self._key = key

    @classmethod
    async def create(cls, dsn: str, *, hmac_key: bytes | None = None) -> PostgresAuditLogHarness:
        """A new, empty chain in schema `ordergate_test_<random>` of the database at `dsn`."""
        names = Names(f"ordergate_test_{uuid.uuid4().hex[:12]}", "audit")
        log = await cls._open(dsn, names, hmac_key)
        return cls(dsn, names, log, hmac_key)

    @staticmethod
    async def _open(dsn: str, names: Names, key: bytes | None) -> PostgresAuditLog:
        return await PostgresAuditLog.open(
            dsn, schema=names.schema, table=names.table, hmac_key=key
        )

    async def tamper(self, sequence: int) -> None:
        """Change one stored byte of record `sequence` behind the log's back."""
        await tamper_body(self.dsn, self.names, sequence)

    async def reopen(self) -> AuditLog:
        """Close and open the same chain again."""
        await self._log.close()
        self._log = await self._open(self.dsn, self.names, self._key)
        self.audit_log = self._log
        return self._log

    async def close(self) -> None:
        """Close the log and drop the schema."""
        try:
            await self._log.close()
        finally:
            await drop_schema(self.dsn, self.names.schema)


async def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test schema and everything in it."""
    conn: Any
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
