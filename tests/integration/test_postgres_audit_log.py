"""PostgresAuditLog on a real PostgreSQL: chain, guards, retention, HMAC, concurrent writers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ordergate.adapters.postgres.audit_log import PostgresAuditLog, redact_dsn
from ordergate.adapters.postgres.schema import PURGE_SETTING
from ordergate.adapters.postgres.testing import PostgresAuditLogHarness, tamper_body
from ordergate.adapters.serialization import AuditStoreError, RetentionViolation
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId

pytestmark = pytest.mark.services

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


def record(index: int, *, corr: str | None = None, ts: datetime | None = None) -> AuditRecord:
    return AuditRecord(
        kind="broker.submit",
        ts=ts or T0 + timedelta(seconds=index),
        payload={"index": index, "qty": "100", "price": "101.25"},
        correlation_id=None if corr is None else CorrelationId(corr),
    )


@pytest.fixture
async def harness(postgres_dsn: str) -> AsyncIterator[PostgresAuditLogHarness]:
    h = await PostgresAuditLogHarness.create(postgres_dsn)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
def log(harness: PostgresAuditLogHarness) -> PostgresAuditLog:
    assert isinstance(harness.audit_log, PostgresAuditLog)
    return harness.audit_log


async def run_sql(dsn: str, statement: sql.Composable, *params: object) -> None:
    conn: Any
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(statement, params or None)


async def test_append_then_verify_round_trip(log: PostgresAuditLog) -> None:
    entries = [await log.append(record(i, corr="c-1")) for i in range(5)]
    result = await log.verify()
    assert [1, 2, 3, 4, 5] == [e.sequence for e in entries]
    assert entries == await log.query()
    assert (True, 5, None) == (result.ok, result.checked, result.first_bad_sequence)


async def test_chain_is_identical_to_the_sqlite_one(log: PostgresAuditLog, tmp_path: Path) -> None:
    records = [record(i, corr=f"c{i % 2}") for i in range(6)]
    sqlite_log = await SqliteAuditLog.open(tmp_path / "same.sqlite3", hmac_key=None)
    try:
        from_sqlite = [await sqlite_log.append(r) for r in records]
    finally:
        await sqlite_log.close()
    from_postgres = [await log.append(r) for r in records]
    assert [e.hash for e in from_sqlite] == [e.hash for e in from_postgres]


async def test_editing_one_payload_byte_is_found_by_verify(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    for i in range(6):
        await log.append(record(i))
    stored = await _body(harness, 4)
    await tamper_body(harness.dsn, harness.names, 4, stored.replace(b'"qty":"100"', b'"qty":"900"'))
    result = await log.verify()
    assert (False, 4, 3) == (result.ok, result.first_bad_sequence, result.checked)


async def test_a_body_that_is_not_json_is_named_by_verify(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    for i in range(4):
        await log.append(record(i))
    await tamper_body(harness.dsn, harness.names, 2, b"not json at all")
    result = await log.verify()
    assert (False, 2) == (result.ok, result.first_bad_sequence)


async def test_an_edited_index_column_is_named_by_verify(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    for i in range(4):
        await log.append(record(i, corr="real"))
    names = harness.names
    trigger = names.trigger("guard")
    conn: Any
    async with await psycopg.AsyncConnection.connect(harness.dsn) as conn, conn.transaction():
        await conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(names.log, trigger))
        await conn.execute(
            sql.SQL("UPDATE {} SET correlation_id = 'forged' WHERE seq = 3").format(names.log)
        )
        await conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(names.log, trigger))
    result = await log.verify()
    assert (False, 3) == (result.ok, result.first_bad_sequence)
    assert [] == await log.query(correlation_id=CorrelationId("forged"))


async def _body(harness: PostgresAuditLogHarness, sequence: int) -> bytes:
    conn: Any
    async with await psycopg.AsyncConnection.connect(harness.dsn) as conn:
        cur = await conn.execute(
            sql.SQL("SELECT body FROM {} WHERE seq = %s").format(harness.names.log), (sequence,)
        )
        row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


async def test_harness_tamper_is_found(harness: PostgresAuditLogHarness) -> None:
    for i in range(5):
        await harness.audit_log.append(record(i))
    await harness.tamper(2)
    result = await harness.audit_log.verify()
    assert (False, 2) == (result.ok, result.first_bad_sequence)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {log} SET kind = 'x' WHERE seq = 1",
        "DELETE FROM {log} WHERE seq = 1",
        "TRUNCATE {log}",
        "UPDATE {head} SET purged_through = 1",
        "DELETE FROM {head}",
    ],
)
async def test_updates_deletes_and_truncates_are_refused(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog, statement: str
) -> None:
    await log.append(record(1, ts=datetime(2001, 1, 1, tzinfo=UTC)))
    names = harness.names
    with pytest.raises(psycopg.errors.RaiseException, match="refused"):
        await run_sql(harness.dsn, sql.SQL(statement).format(log=names.log, head=names.head))
    assert [1] == [e.sequence for e in await log.query()]


async def test_database_refuses_to_delete_young_records_even_in_the_purge_window(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    await log.append(record(1, ts=datetime.now(UTC)))
    conn: Any
    async with await psycopg.AsyncConnection.connect(harness.dsn) as conn:
        await conn.execute("SELECT set_config(%s, '1', true)", (PURGE_SETTING,))
        with pytest.raises(psycopg.errors.RaiseException, match="retention"):
            await conn.execute(sql.SQL("DELETE FROM {}").format(harness.names.log))
    assert 1 == len(await log.query())


async def test_purge_inside_retention_names_cutoff_and_limit(postgres_dsn: str) -> None:
    log = await PostgresAuditLog.open(
        postgres_dsn,
        schema="ordergate_retention_test",
        table="audit",
        clock=lambda: datetime(2030, 1, 1, tzinfo=UTC),
    )
    try:
        with pytest.raises(RetentionViolation) as caught:
            await log.purge_before(datetime(2025, 1, 1, tzinfo=UTC))
        assert datetime(2023, 1, 1, tzinfo=UTC) == caught.value.limit
    finally:
        await log.close()
        await run_sql(postgres_dsn, sql.SQL("DROP SCHEMA ordergate_retention_test CASCADE"))


async def test_purge_deletes_an_old_prefix_and_the_rest_still_verifies(
    log: PostgresAuditLog,
) -> None:
    for i in range(3):
        await log.append(record(i, ts=datetime(2010, 1, 1, tzinfo=UTC) + timedelta(minutes=i)))
    for i in range(2):
        await log.append(record(i, corr="keep"))
    assert 3 == await log.purge_before(datetime(2011, 1, 1, tzinfo=UTC))
    after = await log.append(record(9, corr="keep"))
    result = await log.verify()
    assert (6, True, 3) == (after.sequence, result.ok, result.checked)
    assert [4, 5, 6] == [e.sequence for e in await log.query(correlation_id=CorrelationId("keep"))]


async def test_hmac_chain_verifies_only_with_its_key(postgres_dsn: str) -> None:
    keyed = await PostgresAuditLogHarness.create(postgres_dsn, hmac_key=b"k1")
    try:
        entry = await keyed.audit_log.append(record(1))
        wrong = await PostgresAuditLog.open(
            postgres_dsn, schema=keyed.names.schema, table=keyed.names.table, hmac_key=b"k2"
        )
        try:
            outcomes = ((await keyed.audit_log.verify()).ok, (await wrong.verify()).ok)
        finally:
            await wrong.close()
    finally:
        await keyed.close()
    assert (True, False) == outcomes
    assert entry.hash != (await _plain_hash_of(postgres_dsn, record(1)))


async def _plain_hash_of(dsn: str, rec: AuditRecord) -> str:
    plain = await PostgresAuditLogHarness.create(dsn)
    try:
        return (await plain.audit_log.append(rec)).hash
    finally:
        await plain.close()


async def test_two_writer_connections_keep_one_gapless_chain(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    other = await PostgresAuditLog.open(
        harness.dsn, schema=harness.names.schema, table=harness.names.table
    )
    try:

        async def write(target: PostgresAuditLog, tag: str) -> list[int]:
            entries = await asyncio.gather(
                *(target.append(record(i, corr=tag)) for i in range(150))
            )
            return [e.sequence for e in entries]

        first, second = await asyncio.gather(write(log, "a"), write(other, "b"))
        result = await other.verify()
    finally:
        await other.close()
    assert list(range(1, 301)) == sorted(first + second)
    assert (True, 300) == (result.ok, result.checked)


async def test_reopen_continues_the_chain(harness: PostgresAuditLogHarness) -> None:
    before = [await harness.audit_log.append(record(i)) for i in range(3)]
    reopened = await harness.reopen()
    after = await reopened.append(record(3))
    assert (4, before[-1].hash) == (after.sequence, after.prev_hash)
    assert (await reopened.verify()).ok


async def test_failed_commit_raises_to_every_waiter(
    harness: PostgresAuditLogHarness, log: PostgresAuditLog
) -> None:
    await log.append(record(0))
    names = harness.names
    refuse = sql.SQL(
        "CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'disk says no'; END $$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON {log} FOR EACH ROW EXECUTE FUNCTION {s}.refuse()"
    ).format(s=sql.Identifier(names.schema), log=names.log)
    await run_sql(harness.dsn, refuse)
    results = await asyncio.gather(
        *(log.append(record(i)) for i in range(1, 4)), return_exceptions=True
    )
    assert all(isinstance(r, AuditStoreError) for r in results)
    assert "disk says no" in str(results[0])
    await run_sql(harness.dsn, sql.SQL("DROP TRIGGER refuse ON {}").format(names.log))
    assert 2 == (await log.append(record(9))).sequence


async def test_a_password_in_the_dsn_is_refused_and_never_shown(postgres_dsn: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        await PostgresAuditLog.open(postgres_dsn + "?password=hunter2")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in redact_dsn("host=db user=u password=hunter2")
