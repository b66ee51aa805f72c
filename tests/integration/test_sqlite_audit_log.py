"""SqliteAuditLog on real files: chain, tamper evidence, triggers, retention, HMAC, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ordergate.adapters.serialization import (
    GENESIS_HASH,
    AuditKeyError,
    AuditStoreError,
    RetentionViolation,
    canonical_record_json,
    chain_hash,
)
from ordergate.adapters.sqlite import SqliteAuditConfig, SqliteAuditLog
from ordergate.adapters.sqlite.testing import SqliteAuditLogHarness, tamper_body
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)


def record(index: int, *, kind: str = "broker.submit", corr: str | None = None) -> AuditRecord:
    return AuditRecord(
        kind=kind,
        ts=T0 + timedelta(seconds=index),
        payload={"index": index, "qty": "100", "price": "101.25"},
        correlation_id=None if corr is None else CorrelationId(corr),
    )


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[SqliteAuditLog]:
    audit = await SqliteAuditLog.open(tmp_path / "audit.sqlite3")
    try:
        yield audit
    finally:
        await audit.close()


def sql(path: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return conn.execute(statement, params).fetchall()


async def test_append_then_verify_round_trip(log: SqliteAuditLog) -> None:
    entries = [await log.append(record(i, corr="c-1")) for i in range(5)]
    stored = await log.query()
    result = await log.verify()
    assert [1, 2, 3, 4, 5] == [e.sequence for e in entries]
    assert entries == stored
    assert GENESIS_HASH == entries[0].prev_hash
    assert (True, 5, None) == (result.ok, result.checked, result.first_bad_sequence)


async def test_entry_hash_is_the_shared_chain_hash(log: SqliteAuditLog) -> None:
    first = await log.append(record(1))
    second = await log.append(record(2))
    expected = chain_hash(bytes.fromhex(first.hash), canonical_record_json(record(2)))
    assert expected.hex() == second.hash


async def test_editing_one_payload_byte_is_found_by_verify(log: SqliteAuditLog) -> None:
    for i in range(6):
        await log.append(record(i))
    [(body,)] = sql(log.path, "SELECT body FROM audit_log WHERE seq = 4")
    assert isinstance(body, bytes)
    tampered = body.replace(b'"qty":"100"', b'"qty":"900"')
    assert tampered != body
    await asyncio.to_thread(tamper_body, log.path, 4, tampered)
    result = await log.verify()
    assert (False, 4, 3) == (result.ok, result.first_bad_sequence, result.checked)
    assert "hash" in result.reason


async def test_a_body_that_is_not_json_is_named_by_verify(log: SqliteAuditLog) -> None:
    for i in range(4):
        await log.append(record(i))
    await asyncio.to_thread(tamper_body, log.path, 3, b"not json at all")
    result = await log.verify()
    assert (False, 3) == (result.ok, result.first_bad_sequence)


async def test_a_deleted_record_is_named_by_verify(log: SqliteAuditLog) -> None:
    for i in range(5):
        await log.append(record(i))
    with contextlib.closing(sqlite3.connect(log.path, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DROP TRIGGER audit_log_retention")
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    result = await log.verify()
    assert (False, 2) == (result.ok, result.first_bad_sequence)
    assert "missing" in result.reason


async def test_an_edited_index_column_is_named_by_verify(log: SqliteAuditLog) -> None:
    for i in range(4):
        await log.append(record(i, corr="real"))
    with contextlib.closing(sqlite3.connect(log.path, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET correlation_id = 'forged' WHERE seq = 3")
    result = await log.verify()
    assert (False, 3) == (result.ok, result.first_bad_sequence)
    assert [] == await log.query(correlation_id=CorrelationId("forged"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "DELETE FROM audit_log",
        "UPDATE audit_anchor SET purged_through = 1",
    ],
)
async def test_updates_and_deletes_are_refused_by_triggers(
    log: SqliteAuditLog, statement: str
) -> None:
    await log.append(record(1))
    with pytest.raises(sqlite3.IntegrityError, match="audit_"):
        sql(log.path, statement)
    assert [1] == [e.sequence for e in await log.query()]


async def test_purge_inside_retention_names_cutoff_and_limit(tmp_path: Path) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    audit = await SqliteAuditLog.open(tmp_path / "a.sqlite3", clock=lambda: now)
    try:
        await audit.append(record(1))
        with pytest.raises(RetentionViolation) as caught:
            await audit.purge_before(datetime(2025, 1, 1, tzinfo=UTC))
        assert datetime(2023, 1, 1, tzinfo=UTC) == caught.value.limit
        assert "2025-01-01" in str(caught.value)
        assert "2023-01-01" in str(caught.value)
        assert 1 == len(await audit.query())
    finally:
        await audit.close()


async def test_purge_deletes_an_old_prefix_and_the_rest_still_verifies(
    log: SqliteAuditLog,
) -> None:
    old = datetime(2010, 1, 1, tzinfo=UTC)
    for i in range(3):
        await log.append(AuditRecord("old", old + timedelta(minutes=i), {"i": i}))
    for i in range(2):
        await log.append(record(i, corr="keep"))
    assert 3 == await log.purge_before(datetime(2011, 1, 1, tzinfo=UTC))
    after = await log.append(record(9, corr="keep"))
    result = await log.verify()
    assert (True, 3) == (result.ok, result.checked)
    assert [4, 5, 6] == [e.sequence for e in await log.query(correlation_id=CorrelationId("keep"))]
    assert 6 == after.sequence


async def test_naive_purge_cutoff_is_refused(log: SqliteAuditLog) -> None:
    with pytest.raises(InvalidValue, match="cutoff"):
        await log.purge_before(datetime(2010, 1, 1))


async def test_hmac_chain_differs_and_verifies_only_with_its_key(tmp_path: Path) -> None:
    plain = await SqliteAuditLog.open(tmp_path / "plain.sqlite3")
    keyed = await SqliteAuditLog.open(tmp_path / "keyed.sqlite3", hmac_key=b"k1")
    try:
        plain_entry = await plain.append(record(1))
        keyed_entry = await keyed.append(record(1))
    finally:
        await plain.close()
        await keyed.close()
    assert plain_entry.hash != keyed_entry.hash
    outcomes = {}
    for name, key in [("right", b"k1"), ("wrong", b"k2")]:
        reader = await SqliteAuditLog.open(tmp_path / "keyed.sqlite3", hmac_key=key, read_only=True)
        try:
            outcomes[name] = (await reader.verify()).ok
        finally:
            await reader.close()
    assert {"right": True, "wrong": False} == outcomes
    reader = await SqliteAuditLog.open(tmp_path / "keyed.sqlite3", read_only=True)
    try:
        with pytest.raises(AuditKeyError, match="keyed"):  # the file says it is keyed
            await reader.verify()
    finally:
        await reader.close()
    with pytest.raises(AuditStoreError, match="fails its MAC"):  # no appending with another key
        await SqliteAuditLog.open(tmp_path / "keyed.sqlite3", hmac_key=b"k2")
    for key, variant in [(None, "keyed"), (b"k1", "without an HMAC key")]:
        name = "keyed.sqlite3" if key is None else "plain.sqlite3"
        with pytest.raises(AuditKeyError, match=variant):
            await SqliteAuditLog.open(tmp_path / name, hmac_key=key)


async def test_hmac_key_comes_from_the_named_environment_variable(tmp_path: Path) -> None:
    config = SqliteAuditConfig(str(tmp_path / "env.sqlite3"), hmac_key_env="AUDIT_KEY_FOR_TEST")
    audit = await SqliteAuditLog.from_config(config, {"AUDIT_KEY_FOR_TEST": "s3cret"})
    try:
        entry = await audit.append(record(1))
        assert "s3cret" not in repr(audit)
    finally:
        await audit.close()
    expected = chain_hash(bytes(32), canonical_record_json(record(1)), b"s3cret")
    assert expected.hex() == entry.hash


async def test_concurrent_appends_are_gapless_and_share_commits(log: SqliteAuditLog) -> None:
    entries = await asyncio.gather(*(log.append(record(i)) for i in range(500)))
    stored = await log.query()
    assert list(range(1, 501)) == sorted(e.sequence for e in entries)
    assert list(range(1, 501)) == [e.sequence for e in stored]
    assert {e.record.payload["index"]: e.sequence for e in entries} == {
        e.record.payload["index"]: e.sequence for e in stored
    }
    assert (await log.verify()).ok


async def test_each_caller_gets_its_own_stored_entries_whatever_the_batch_sizes(
    log: SqliteAuditLog,
) -> None:
    singles = [log.append(record(i)) for i in range(37)]
    bulks = [log.append_many([record(100 + 10 * j + k) for k in range(j + 1)]) for j in range(9)]
    results = await asyncio.gather(*singles, *bulks)
    groups = results[37:]
    returned = [*results[:37], *(entry for group in groups for entry in group)]
    assert await log.query() == sorted(returned, key=lambda e: e.sequence)
    for group in groups:  # a bulk append is one consecutive run, in the order given
        first = group[0].sequence
        assert list(range(first, first + len(group))) == [e.sequence for e in group]
        assert [e.record.payload["index"] for e in group] == sorted(
            e.record.payload["index"] for e in group
        )
    assert (True, 82) == ((await log.verify()).ok, len(returned))


async def test_append_many_larger_than_one_statement_is_stored_whole(log: SqliteAuditLog) -> None:
    entries = await log.append_many([record(i) for i in range(5000)])
    result = await log.verify()
    assert list(range(1, 5001)) == [e.sequence for e in entries]
    assert entries == await log.query()
    assert (True, 5000) == (result.ok, result.checked)


async def test_two_logs_appending_to_one_file_keep_one_gapless_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    first = await SqliteAuditLog.open(path)
    second = await SqliteAuditLog.open(path)
    try:
        for i in range(6):  # each append finds the head moved by the other writer
            await (first if i % 2 == 0 else second).append(record(i))
        await asyncio.gather(
            *(first.append(record(10 + i)) for i in range(50)),
            *(second.append(record(100 + i)) for i in range(50)),
        )
        result = await second.verify()
        sequences = [e.sequence for e in await first.query()]
    finally:
        await first.close()
        await second.close()
    assert (True, 106) == (result.ok, result.checked)
    assert list(range(1, 107)) == sequences


async def test_an_append_after_another_log_purged_past_its_head_continues_the_chain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "purged.sqlite3"
    now = datetime(2030, 1, 1, tzinfo=UTC)
    old = datetime(2010, 1, 1, tzinfo=UTC)
    first = await SqliteAuditLog.open(path)
    second = await SqliteAuditLog.open(path, clock=lambda: now)
    try:
        await first.append(AuditRecord("old", old, {"i": 0}))
        for i in range(1, 4):
            await second.append(AuditRecord("old", old + timedelta(minutes=i), {"i": i}))
        assert 4 == await second.purge_before(datetime(2011, 1, 1, tzinfo=UTC))
        entry = await first.append(record(5))  # `first` last wrote sequence 1, now purged
        result = await first.verify()
    finally:
        await first.close()
        await second.close()
    assert 5 == entry.sequence
    assert (True, 1) == (result.ok, result.checked)


async def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    harness = await SqliteAuditLogHarness.create(tmp_path)
    try:
        before = [await harness.audit_log.append(record(i)) for i in range(3)]
        reopened = await harness.reopen()
        after = await reopened.append(record(3))
        result = await reopened.verify()
    finally:
        await harness.close()
    assert (4, before[-1].hash) == (after.sequence, after.prev_hash)
    assert (True, 4) == (result.ok, result.checked)


async def test_harness_tamper_is_found(tmp_path: Path) -> None:
    harness = await SqliteAuditLogHarness.create(tmp_path)
    try:
        for i in range(5):
            await harness.audit_log.append(record(i))
        await harness.tamper(3)
        result = await harness.audit_log.verify()
    finally:
        await harness.close()
    assert (False, 3) == (result.ok, result.first_bad_sequence)


async def test_query_by_correlation_kind_time_and_limit(log: SqliteAuditLog) -> None:
    for i in range(10):
        await log.append(record(i, kind="even" if i % 2 == 0 else "odd", corr=f"c{i % 3}"))
    by_corr = await log.query(correlation_id=CorrelationId("c1"))
    by_kind_and_corr = await log.query(kind="odd", correlation_id=CorrelationId("c1"))
    by_time = await log.query(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4))
    limited = await log.query(kind="even", limit=2)
    assert [2, 5, 8] == [e.sequence for e in by_corr]
    assert [2, 8] == [e.sequence for e in by_kind_and_corr]
    assert [3, 4, 5] == [e.sequence for e in by_time]
    assert [1, 3] == [e.sequence for e in limited]


async def test_correlation_query_reads_the_lookup_and_the_unindexed_tail(
    log: SqliteAuditLog,
) -> None:
    await log.append_many([record(i, corr="batch") for i in range(3)])
    await asyncio.sleep(0.3)  # the idle writer indexes the backlog, then waits for appends
    assert [(3,)] == sql(log.path, "SELECT indexed_through FROM audit_lookup_state")
    # Pretend only record 1 was indexed: 2 and 3 must come from the tail scan.
    sql(log.path, "DELETE FROM audit_by_correlation WHERE seq > 1")
    sql(log.path, "UPDATE audit_lookup_state SET indexed_through = 1")
    found = await log.query(correlation_id=CorrelationId("batch"))
    assert [1, 2, 3] == [e.sequence for e in found]


async def test_float_payload_is_refused_and_nothing_is_stored(log: SqliteAuditLog) -> None:
    payload: dict[str, object] = {"price": "1.25"}
    bad = AuditRecord("mutated", T0, payload)
    payload["price"] = 1.25
    with pytest.raises(InvalidValue, match=r"payload\.price"):
        await log.append(bad)
    assert [] == await log.query()


async def test_failed_commit_raises_to_every_waiter(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    audit = await SqliteAuditLog.open(path)
    try:
        await audit.append(record(0))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as conn:
            conn.execute("DROP TRIGGER audit_log_no_update")
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN"
                " SELECT RAISE(ABORT, 'disk says no'); END"
            )
        results = await asyncio.gather(
            *(audit.append(record(i)) for i in range(1, 4)), return_exceptions=True
        )
        assert all(isinstance(r, AuditStoreError) for r in results)
        assert "disk says no" in str(results[0])
        sql(path, "DROP TRIGGER refuse")
        assert 2 == (await audit.append(record(9))).sequence
    finally:
        await audit.close()


async def test_append_after_close_raises(tmp_path: Path) -> None:
    audit = await SqliteAuditLog.open(tmp_path / "closed.sqlite3")
    await audit.close()
    with pytest.raises(AuditStoreError, match="closed"):
        await audit.append(record(1))


async def test_file_is_in_wal_mode(log: SqliteAuditLog) -> None:
    await log.append(record(1))
    assert [("wal",)] == sql(log.path, "PRAGMA journal_mode")
