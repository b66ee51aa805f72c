"""`PostgresAuditLog`: the `AuditLog` contract on PostgreSQL (psycopg 3, async), for many processes.

Records, hashes and the canonical bytes are exactly those of the SQLite log (shared
`ordergate.adapters.serialization`), so a chain verifies the same in either store. Appends from
one process are grouped: one transaction locks the chain-head row (`SELECT … FOR UPDATE`), inserts
every queued record and moves the head; the futures resolve after COMMIT returned (durable with
PostgreSQL's default `synchronous_commit=on`). Any number of processes may append to one chain:
the head-row lock orders them. The head row is the head checkpoint: it moves (with its MAC) in
the transaction of every batch, and `verify` holds the chain against it. `open(...,
read_only=True)` starts no writer, runs no DDL and reads in read-only transactions only.

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

from ordergate.adapters.postgres.guard import Guard
from ordergate.adapters.postgres.schema import (
    CHECKPOINT_COLUMNS,
    Names,
    guard_statements,
    schema_statements,
)
from ordergate.adapters.postgres.verify import mismatched_columns, verify_stream
from ordergate.adapters.postgres.writer import Encoded, PostgresGroupWriter
from ordergate.adapters.serialization import (
    GENESIS_HASH_BYTES,
    AuditKeyError,
    AuditStoreError,
    LegacyAuditLog,
    NotAnAuditLog,
    RetentionViolation,
    canonical_record_parts,
    check_anchor,
    check_head,
    check_key,
    head_mac,
    hmac_key_from_env,
    make_head,
    record_from_canonical,
    retention_limit,
)
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
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
        writer: PostgresGroupWriter | None,
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
        read_only: bool = False,
    ) -> PostgresAuditLog:
        """Connect, create the chain's objects if missing, and start the group writer.

        `password` (from the environment, never from config files) is passed to libpq
        separately; a DSN that carries one is refused. The chain records whether it is keyed:
        a keyed chain opened without its key, or an unkeyed one with a key, raises
        `AuditKeyError`; a chain of the layout before the head checkpoint raises
        `LegacyAuditLog` (upgrade it once). `read_only=True` runs no DDL and starts no writer:
        the chain must exist (`NotAnAuditLog` otherwise), and every read is a read-only
        transaction.
        """
        if "password" in conninfo_to_dict(dsn):
            raise InvalidValue(
                "dsn", redact_dsn(dsn), "must not hold a password; pass it from the environment"
            )
        extra: dict[str, Any] = {} if password is None else {"password": password}
        names = Names(schema, table)
        connections: list[psycopg.AsyncConnection[Any]] = []
        try:
            if read_only:
                reader = await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, options="-c default_transaction_read_only=on", **extra
                )
                connections.append(reader)
                await _inspect(reader, names)
                return cls(
                    names,
                    None,
                    reader,
                    hmac_key=hmac_key,
                    retention_years=retention_years,
                    clock=clock or (lambda: datetime.now(UTC)),
                )
            for _ in range(2):
                connections.append(
                    await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)
                )
            writer_conn, reader = connections
            await _create_schema(writer_conn, names, retention_years, hmac_key)
        except psycopg.Error as exc:
            for conn in connections:
                await conn.close()
            raise AuditStoreError(f"cannot open audit log at {redact_dsn(dsn)}: {exc}") from exc
        except BaseException:
            for conn in connections:
                await conn.close()
            raise

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
        entries = await self._writing().submit([(record, body, ts)])
        return entries[0]

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` in order in one transaction (bulk import; same guarantees)."""
        if not records:
            return []
        encoded: list[Encoded] = [(r, *canonical_record_parts(r)) for r in records]
        return await self._writing().submit(encoded)

    async def append_guarded(
        self, records: Sequence[AuditRecord], guard: Guard
    ) -> list[AuditEntry]:
        """Store `records` like `append_many`, only if `guard` passes in the same transaction:
        `LeaseLost` when its fence no longer holds, `AlreadyDecided` when its signal was decided
        before (nothing stored in either case)."""
        encoded: list[Encoded] = [(r, *canonical_record_parts(r)) for r in records]
        return await self._writing().submit(encoded, guard)

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

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Recompute every hash and link in one snapshot and hold the chain against the head
        checkpoint (and `anchor`, a head saved earlier); the first bad sequence and why.

        Raises `AuditKeyError` for a keyed chain opened without its key.
        """
        where = f"{self._names.schema}.{self._names.table}"
        async with self._reading() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head = await _stored_head(conn, self._names)
            refused = check_key(head, self._key, where)
            if refused is not None:
                return attrs.evolve(refused, head=head)
            first = head.purged_through + 1
            walked, last = await verify_stream(
                conn, self._names, first, bytes.fromhex(head.anchor_hash), self._key
            )
            chain = check_head(walked, first, last, head, self._key)
            if chain.ok and anchor is not None:
                row = await (
                    await conn.execute(
                        sql.SQL("SELECT hash FROM {} WHERE seq = %s").format(self._names.log),
                        (anchor.sequence,),
                    )
                ).fetchone()
                at_anchor = None if row is None else bytes(row[0]).hex()
                chain = check_anchor(head, anchor, at_anchor, self._key) or chain
            chain = attrs.evolve(chain, head=head)
            mismatch = await mismatched_columns(conn, self._names)
        bad = chain.first_bad_sequence
        if mismatch is None or mismatch >= (first + chain.checked if bad is None else bad):
            return chain
        return VerifyResult(
            ok=False,
            checked=mismatch - first,
            first_bad_sequence=mismatch,
            reason=f"{mismatch}: indexed columns (ts/kind/correlation_id) disagree with the record",
            head=head,
        )

    @classmethod
    async def upgrade(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        table: str = "ordergate_audit",
        password: str | None = None,
        hmac_key: bytes | None = None,
    ) -> VerifyResult:
        """Give a chain of the layout before the head checkpoint its `keyed` flag and MAC (once).

        The chain is verified first (with `hmac_key` for a keyed chain: the key decides whether
        the upgraded chain is keyed) and must end where its head row says; otherwise nothing is
        changed and the failure is returned.
        """
        names = Names(schema, table)
        extra: dict[str, Any] = {} if password is None else {"password": password}
        try:
            async with await psycopg.AsyncConnection.connect(dsn, **extra) as conn:
                return await _upgrade(conn, names, hmac_key)
        except psycopg.Error as exc:
            raise AuditStoreError(f"cannot upgrade audit log at {redact_dsn(dsn)}: {exc}") from exc

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete the oldest records with `ts < cutoff`; refuse cutoffs inside the retention.

        Only a prefix of the chain is deleted; the hash of the last deleted record becomes the
        anchor the rest verifies from. Returns how many records were deleted.
        """
        check_utc("purge_before(cutoff)", cutoff)
        limit = retention_limit(self._clock(), self._retention_years)
        if cutoff > limit:
            raise RetentionViolation(cutoff, limit, self._retention_years)
        return await self._writing().purge(cutoff)

    async def close(self) -> None:
        """Commit whatever is queued, then close both connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._writer is not None:
                await self._writer.stop()
        finally:
            await self._reader.close()

    def _writing(self) -> PostgresGroupWriter:
        if self._writer is None:
            where = f"{self._names.schema}.{self._names.table}"
            raise AuditStoreError(f"audit log {where} is open read-only: nothing is written")
        return self._writer

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
    conn: psycopg.AsyncConnection[Any], names: Names, retention_years: int, key: bytes | None
) -> None:
    keyed = key is not None
    zero = GENESIS_HASH_BYTES
    async with conn.transaction():
        # Serialise concurrent first opens: CREATE … IF NOT EXISTS races between sessions.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{names.schema}.{names.table}",)
        )
        log, head, columns = await _objects(conn, names)
        if log or head:
            _check_layout(names, log, head, columns)
        for statement in schema_statements(
            names, retention_years, keyed, head_mac(0, zero, 0, zero, keyed, key)
        ):
            await conn.execute(statement)
        row = await (
            await conn.execute(sql.SQL("SELECT keyed FROM {}").format(names.head))
        ).fetchone()
    if row is not None and bool(row[0]) != keyed:
        where = f"{names.schema}.{names.table}"
        if row[0]:
            raise AuditKeyError(
                f"audit log {where} is HMAC-keyed: it cannot be opened without its key "
                "(set audit.hmac_key_env to the variable holding it)"
            )
        raise AuditKeyError(
            f"audit log {where} was created without an HMAC key: it cannot be extended with one "
            "(a chain keeps the hashing it was created with; use a new table for a keyed log)"
        )


async def _objects(
    conn: psycopg.AsyncConnection[Any], names: Names
) -> tuple[bool, bool, frozenset[str]]:
    """Whether the log and head tables exist, and the head table's columns."""
    row = await (
        await conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
            (names.log.as_string(None), names.head.as_string(None)),
        )
    ).fetchone()
    assert row is not None
    found = await (
        await conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (names.schema, f"{names.table}_head"),
        )
    ).fetchall()
    return bool(row[0]), bool(row[1]), frozenset(name for (name,) in found)


def _check_layout(names: Names, log: bool, head: bool, columns: frozenset[str]) -> None:
    where = f"{names.schema}.{names.table}"
    if not (log and head):
        raise NotAnAuditLog(
            f"{where} is not an ordergate audit log (its {'head' if log else 'log'} table "
            f"{where}{'_head' if log else ''} is missing); nothing was changed"
        )
    if not CHECKPOINT_COLUMNS <= columns:
        raise LegacyAuditLog(
            f"audit log {where} has the layout before the head checkpoint: upgrade it once with "
            "`ordergate audit upgrade` (it verifies the chain first; see docs/audit.md, "
            "'Upgrading a log')"
        )


async def _inspect(conn: psycopg.AsyncConnection[Any], names: Names) -> None:
    log, head, columns = await _objects(conn, names)
    _check_layout(names, log, head, columns)


async def _stored_head(conn: psycopg.AsyncConnection[Any], names: Names) -> AuditHead:
    row = await (
        await conn.execute(
            sql.SQL("SELECT seq, hash, purged_through, anchor_hash, keyed, mac FROM {}").format(
                names.head
            )
        )
    ).fetchone()
    if row is None:
        raise AuditStoreError(
            f"the head checkpoint row of {names.schema}.{names.table} is missing: "
            "the log was changed behind ordergate"
        )
    return make_head(*row)


async def _upgrade(
    conn: psycopg.AsyncConnection[Any], names: Names, key: bytes | None
) -> VerifyResult:
    where = f"{names.schema}.{names.table}"
    async with conn.transaction():
        log, head, columns = await _objects(conn, names)
        if log and head and CHECKPOINT_COLUMNS <= columns:
            raise AuditStoreError(f"{where} already has its head checkpoint: nothing to upgrade")
        if not (log and head):
            _check_layout(names, log, head, columns)
        row = await (
            await conn.execute(
                sql.SQL("SELECT seq, hash, purged_through, anchor_hash FROM {} FOR UPDATE").format(
                    names.head
                )
            )
        ).fetchone()
        assert row is not None
        sequence, last, purged, anchor = int(row[0]), bytes(row[1]), int(row[2]), bytes(row[3])
        walked, tip_hash = await verify_stream(conn, names, purged + 1, anchor, key)
        keyed = key is not None
        mac = head_mac(sequence, last, purged, anchor, keyed, key)
        legacy = make_head(sequence, last, purged, anchor, keyed, mac)
        result = check_head(walked, purged + 1, tip_hash, legacy, key)
        if not result.ok:
            return result  # nothing was changed (the transaction only locked the head row)
        await conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS keyed boolean,"
                " ADD COLUMN IF NOT EXISTS mac bytea"
            ).format(names.head)
        )
        for statement in guard_statements(names):
            await conn.execute(statement)
        await conn.execute(
            sql.SQL("UPDATE {} SET keyed = %s, mac = %s").format(names.head), (keyed, mac)
        )
        await conn.execute(
            sql.SQL(
                "ALTER TABLE {} ALTER COLUMN keyed SET NOT NULL, ALTER COLUMN mac SET NOT NULL"
            ).format(names.head)
        )
    return attrs.evolve(result, head=legacy)
