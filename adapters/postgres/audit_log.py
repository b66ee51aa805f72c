"""`PostgresAuditLog`: the `AuditLog` contract on PostgreSQL (psycopg 3, async), for many processes.

Records, hashes and the canonical bytes are exactly those of the SQLite log (shared
`ordergate.adapters.serialization`), so a chain verifies the same in either store. Appends from
one process are grouped: one transaction locks the chain-head row (`SELECT … FOR UPDATE`), inserts
every queued record and moves the head; the futures resolve after COMMIT returned (durable with
PostgreSQL's default `synchronous_commit=on`). Any number of processes may append to one chain:
the head-row lock orders them.

This adapter must never log a password or the HMAC key, never accept a password inside the DSN
(passwords come from the environment), and never report an append before its commit returned.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ordergate.adapters.postgres.schema import Names, schema_statements
from ordergate.adapters.postgres.verify import mismatched_columns, verify_stream
from ordergate.adapters.postgres.writer import Encoded, PostgresGroupWriter
from ordergate.adapters.serialization import (
    AuditStoreError,
    RetentionViolation,
    canonical_record_parts,
    hmac_key_from_env,
    record_from_canonical,
    retention_limit,
)
from ordergate.domain.audit import AuditEntry, AuditRecord, VerifyResult
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId, check_utc

__all__ = ["PostgresAuditConfig", "PostgresAuditLog", "RetentionViolation", "redact_dsn"]

DEFAULT_RETENTION_YEARS = 7


def redact_dsn(dsn: str) -> str:
    """`dsn` with any password replaced by `***` (safe for messages)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable dsn>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


@attrs.frozen
class PostgresAuditConfig:
    """Where the chain lives. The DSN carries no password: `password_env` names the variable
    holding it, `hmac_key_env` the one holding the HMAC key."""

    dsn: str
    schema: str = "public"
    table: str = "ordergate_audit"
    password_env: str | None = "ORDERGATE_POSTGRES_PASSWORD"
    hmac_key_env: str | None = None
    retention_years: int = DEFAULT_RETENTION_YEARS


class PostgresAuditLog:
    """An `AuditLog` in one PostgreSQL table. Build it with `await PostgresAuditLog.open(dsn)`."""

    def __init__(
        self,
        names: Names,
        writer: PostgresGroupWriter,
        reader: psycopg.AsyncConnection[Any],
        *,
        hmac_key: bytes | None,
        retention_years: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._names = names
        self._writer = writer
        self._reader = reader
        self._reader_lock = asyncio.Lock()
        self._key = hmac_key
        self._retention_years = retention_years
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        table: str = "ordergate_audit",
        password: str | None = None,
        hmac_key: bytes | None = None,
        retention_years: int = DEFAULT_RETENTION_YEARS,
        clock: Callable[[], datetime] | None = None,
    ) -> PostgresAuditLog:
        """Connect, create the chain's objects if missing, and start the group writer.

        `password` (from the environment, never from config files) is passed to libpq
        separately; a DSN that carries one is refused.
        """
        if "password" in conninfo_to_dict(dsn):
            raise InvalidValue(
                "dsn", redact_dsn(dsn), "must not hold a password; pass it from the environment"
            )
        extra: dict[str, Any] = {} if password is None else {"password": password}
        names = Names(schema, table)
        connections: list[psycopg.AsyncConnection[Any]] = []
        try:
            for _ in range(2):
                connections.append(
                    await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)
                )
            writer_conn, reader = connections
            await _create_schema(writer_conn, names, retention_years)
        except psycopg.Error as exc:
            for conn in connections:
                await conn.close()
            raise AuditStoreError(f"cannot open audit log at {redact_dsn(dsn)}: {exc}") from exc

        async def reconnect() -> psycopg.AsyncConnection[Any]:
            return await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)

        writer = PostgresGroupWriter(writer_conn, names, hmac_key, reconnect)
        writer.start()
        return cls(
            names,
            writer,
            reader,
            hmac_key=hmac_key,
            retention_years=retention_years,
            clock=clock or (lambda: datetime.now(UTC)),
        )

    @classmethod
    async def from_config(
        cls, config: PostgresAuditConfig, environ: Mapping[str, str] | None = None
    ) -> PostgresAuditLog:
        """Open the chain `config` describes; password and HMAC key from the environment."""
        env = os.environ if environ is None else environ
        password = env.get(config.password_env) if config.password_env else None
        return await cls.open(
            config.dsn,
            schema=config.schema,
            table=config.table,
            password=password,
            hmac_key=hmac_key_from_env(config.hmac_key_env, env),
            retention_years=config.retention_years,
        )

    def __repr__(self) -> str:
        keyed = "hmac-sha256" if self._key is not None else "sha256"
        return f"PostgresAuditLog({self._names.schema}.{self._names.table}, chain={keyed})"

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Store `record` durably (committed) and return its chained entry."""
        body, ts = canonical_record_parts(record)
        entries = await self._writer.submit([(record, body, ts)])
        return entries[0]

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` in order in one transaction (bulk import; same guarantees)."""
        if not records:
            return []
        encoded: list[Encoded] = [(r, *canonical_record_parts(r)) for r in records]
        return await self._writer.submit(encoded)

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter, oldest sequence first; `since <= ts <= until`."""
        clauses: list[sql.Composable] = []
        params: list[object] = []
        for column, value in (("correlation_id", correlation_id), ("kind", kind)):
            if value is not None:
                clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(str(value))
        if since is not None:
            clauses.append(sql.SQL("ts >= %s"))
            params.append(since)
        if until is not None:
            clauses.append(sql.SQL("ts <= %s"))
            params.append(until)
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
        tail = sql.SQL(" LIMIT %s") if limit is not None else sql.SQL("")
        if limit is not None:
            params.append(limit)
        statement = sql.SQL("SELECT seq, body, prev_hash, hash FROM {}{} ORDER BY seq{}").format(
            self._names.log, where, tail
        )
        async with self._reading() as conn:
            rows = await (await conn.execute(statement, params)).fetchall()
        entries = [
            AuditEntry(seq, record_from_canonical(body), prev.hex(), digest.hex())
            for seq, body, prev, digest in rows
        ]
        # The columns are copies kept for the indexes; the hashed body decides.
        return [
            e
            for e in entries
            if (correlation_id is None or e.record.correlation_id == correlation_id)
            and (kind is None or e.record.kind == kind)
            and (since is None or e.record.ts >= since)
            and (until is None or e.record.ts <= until)
        ]

    async def verify(self) -> VerifyResult:
        """Recompute every hash and link in one snapshot; the first bad sequence and why."""
        async with self._reading() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = await (
                await conn.execute(
                    sql.SQL("SELECT purged_through, anchor_hash FROM {}").format(self._names.head)
                )
            ).fetchone()
            assert head is not None
            first = int(head[0]) + 1
            chain = await verify_stream(conn, self._names, first, bytes(head[1]), self._key)
            mismatch = await mismatched_columns(conn, self._names)
        bad = chain.first_bad_sequence
        if mismatch is None or mismatch >= (first + chain.checked if bad is None else bad):
            return chain
        return VerifyResult(
            ok=False,
            checked=mismatch - first,
            first_bad_sequence=mismatch,
            reason=f"{mismatch}: indexed columns (ts/kind/correlation_id) disagree with the record",
        )

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete the oldest records with `ts < cutoff`; refuse cutoffs inside the retention.

        Only a prefix of the chain is deleted; the hash of the last deleted record becomes the
        anchor the rest verifies from. Returns how many records were deleted.
        """
        check_utc("purge_before(cutoff)", cutoff)
        limit = retention_limit(self._clock(), self._retention_years)
        if cutoff > limit:
            raise RetentionViolation(cutoff, limit, self._retention_years)
        return await self._writer.purge(cutoff)

    async def close(self) -> None:
        """Commit whatever is queued, then close both connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._writer.stop()
        finally:
            await self._reader.close()

    def _reading(self) -> _Reading:
        if self._closed:
            raise AuditStoreError(f"audit log {self._names.schema}.{self._names.table} is closed")
        return _Reading(self._reader, self._reader_lock)


class _Reading:
    """The reader connection, one user at a time; psycopg errors become `AuditStoreError`."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], lock: asyncio.Lock) -> None:
        self._conn = conn
        self._lock = lock

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        await self._lock.acquire()
        return self._conn

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._lock.release()
        if isinstance(exc, psycopg.Error):
            raise AuditStoreError(f"audit read failed: {exc}") from exc


async def _create_schema(
    conn: psycopg.AsyncConnection[Any], names: Names, retention_years: int
) -> None:
    async with conn.transaction():
        # Serialise concurrent first opens: CREATE … IF NOT EXISTS races between sessions.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{names.schema}.{names.table}",)
        )
        for statement in schema_statements(names, retention_years):
            await conn.execute(statement)
