"""`AuditLogContract`: the behaviour every `AuditLog` adapter must show, as a test class.

Provide an `audit_log_harness` fixture yielding an `AuditLogHarness` over a *new, empty* store
(and closing it) and subclass the contract (see `contracts.broker` for the pattern). The suite
uses only the harness, the port and the domain; it must never depend on an adapter's internals.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from ordergate.application.testing.harness import AuditLogHarness
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.values import CorrelationId

__all__ = ["AuditLogContract", "audit_record"]

CONCURRENT_APPENDS = 200
_OLD = timedelta(days=8 * 366)  # comfortably older than a 7-year retention period
GENESIS = "0" * 64  # the hash an empty chain's head names


def audit_record(
    kind: str = "contract.event",
    *,
    ts: datetime | None = None,
    correlation_id: str | None = None,
    **payload: Any,
) -> AuditRecord:
    """A valid record (payload from keyword arguments)."""
    return AuditRecord(
        kind=kind,
        ts=ts if ts is not None else datetime.now(UTC),
        payload=payload,
        correlation_id=None if correlation_id is None else CorrelationId(correlation_id),
    )


async def _append_many(harness: AuditLogHarness, count: int) -> list[AuditEntry]:
    return [
        await harness.audit_log.append(audit_record(index=index, price="1.25"))
        for index in range(count)
    ]


class AuditLogContract:
    """Sequences, the hash chain, verify, queries, reopen, retention, concurrency, bad input."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    async def test_append_returns_gapless_increasing_sequences(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        entries = await _append_many(audit_log_harness, 5)
        assert [1, 2, 3, 4, 5] == [entry.sequence for entry in entries]

    async def test_each_entry_holds_the_previous_hash(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        entries = await _append_many(audit_log_harness, 4)
        assert [e.hash for e in entries[:-1]] == [e.prev_hash for e in entries[1:]]
        assert len({entry.hash for entry in entries}) == 4

    async def test_untouched_chain_verifies(self, audit_log_harness: AuditLogHarness) -> None:
        await _append_many(audit_log_harness, 10)
        result = await audit_log_harness.audit_log.verify()
        assert (True, 10, None) == (result.ok, result.checked, result.first_bad_sequence)

    async def test_verify_names_the_tampered_record(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        await _append_many(audit_log_harness, 5)
        await audit_log_harness.tamper(3)
        result = await audit_log_harness.audit_log.verify()
        assert (False, 3) == (result.ok, result.first_bad_sequence)

    async def test_records_read_back_as_written(self, audit_log_harness: AuditLogHarness) -> None:
        record = audit_record(
            "risk.decision",
            correlation_id="corr-1",
            approved=True,
            qty="10",
            codes=["A", "B"],
            nested={"limit": "5000.00", "value": None},
        )
        entry = await audit_log_harness.audit_log.append(record)
        [stored] = await audit_log_harness.audit_log.query(correlation_id=CorrelationId("corr-1"))
        assert (entry.sequence, record) == (stored.sequence, stored.record)

    async def test_query_filters_by_correlation_kind_and_time(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        t0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
        for minute, kind, corr in [(0, "a", "x"), (1, "b", "x"), (2, "a", "y"), (3, "b", "y")]:
            await log.append(
                audit_record(kind, ts=t0 + timedelta(minutes=minute), correlation_id=corr)
            )
        by_corr = await log.query(correlation_id=CorrelationId("y"))
        by_kind = await log.query(kind="a")
        by_time = await log.query(
            since=t0 + timedelta(seconds=30), until=t0 + timedelta(minutes=2, seconds=30)
        )
        both = await log.query(kind="b", correlation_id=CorrelationId("x"))
        assert [3, 4] == [e.sequence for e in by_corr]
        assert [1, 3] == [e.sequence for e in by_kind]
        assert [2, 3] == [e.sequence for e in by_time]
        assert [2] == [e.sequence for e in both]
        assert [1, 2] == [e.sequence for e in await log.query(limit=2)]

    async def test_reopened_log_keeps_its_records_and_chain(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        await _append_many(audit_log_harness, 3)
        reopened = await audit_log_harness.reopen()
        assert [1, 2, 3] == [e.sequence for e in await reopened.query()]
        entry = await reopened.append(audit_record("after.reopen"))
        assert 4 == entry.sequence
        assert (await reopened.verify()).ok

    async def test_purge_inside_the_retention_period_is_refused(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        await _append_many(audit_log_harness, 3)
        with pytest.raises(OrdergateError):
            await audit_log_harness.audit_log.purge_before(datetime.now(UTC) - timedelta(days=1))
        assert 3 == len(await audit_log_harness.audit_log.query())

    async def test_purge_removes_only_records_older_than_retention(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        now = datetime.now(UTC)
        for index in range(3):
            await log.append(audit_record("old", ts=now - _OLD + timedelta(minutes=index)))
        for _ in range(2):
            await log.append(audit_record("recent", ts=now))
        removed = await log.purge_before(now - _OLD + timedelta(days=1))
        assert 3 == removed
        assert ["recent", "recent"] == [e.record.kind for e in await log.query()]
        assert (await log.verify()).ok

    async def test_concurrent_appends_are_all_durable_and_ordered(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        entries = await asyncio.gather(
            *(log.append(audit_record(index=i)) for i in range(CONCURRENT_APPENDS))
        )
        expected = list(range(1, CONCURRENT_APPENDS + 1))
        assert expected == sorted(entry.sequence for entry in entries)
        stored = await log.query()
        assert expected == [entry.sequence for entry in stored]
        by_index = {entry.record.payload["index"]: entry.sequence for entry in stored}
        assert {e.record.payload["index"]: e.sequence for e in entries} == by_index
        reopened = await audit_log_harness.reopen()
        assert CONCURRENT_APPENDS == len(await reopened.query())
        assert (await reopened.verify()).ok

    async def test_float_payload_is_refused(self, audit_log_harness: AuditLogHarness) -> None:
        with pytest.raises(InvalidValue):
            await audit_log_harness.audit_log.append(audit_record(price=1.25))

    async def test_float_slipped_into_a_payload_later_is_refused(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        payload: dict[str, Any] = {"price": "1.25"}
        record = AuditRecord(kind="mutated", ts=datetime.now(UTC), payload=payload)
        payload["price"] = 1.25  # the caller kept a reference and changed it after validation
        with pytest.raises(InvalidValue):
            await audit_log_harness.audit_log.append(record)
        assert [] == await audit_log_harness.audit_log.query()

    async def test_append_many_stores_a_list_in_order_on_the_chain(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        first = await log.append(audit_record(index=0))
        batch = await log.append_many([audit_record(index=i) for i in range(1, 6)])
        assert [2, 3, 4, 5, 6] == [entry.sequence for entry in batch]
        assert batch[0].prev_hash == first.hash
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(batch))
        assert [] == await log.append_many([])
        after = await log.append(audit_record(index=6))
        assert after.prev_hash == batch[-1].hash
        stored = await log.query()
        assert list(range(7)) == [entry.record.payload["index"] for entry in stored]
        reopened = await audit_log_harness.reopen()
        assert 7 == len(await reopened.query())
        assert (await reopened.verify()).ok

    async def test_append_many_is_all_or_nothing(self, audit_log_harness: AuditLogHarness) -> None:
        log = audit_log_harness.audit_log
        await log.append(audit_record(index=0))
        payload: dict[str, Any] = {"price": "1.25"}
        bad = AuditRecord(kind="mutated", ts=datetime.now(UTC), payload=payload)
        payload["price"] = 1.25  # a float slipped in after validation
        with pytest.raises(InvalidValue):
            await log.append_many([audit_record(index=1), bad, audit_record(index=2)])
        assert [0] == [entry.record.payload["index"] for entry in await log.query()]
        entry = await log.append(audit_record(index=3))
        assert 2 == entry.sequence  # no gap: nothing of the refused list was stored
        assert (await log.verify()).ok

    async def test_the_head_checkpoint_moves_with_every_write(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        heads = [(await log.verify()).head]
        single = await log.append(audit_record(index=0))
        heads.append((await log.verify()).head)
        batch = await log.append_many([audit_record(index=i) for i in range(1, 4)])
        heads.append((await log.verify()).head)
        reopened = await audit_log_harness.reopen()
        heads.append((await reopened.verify()).head)
        seen = [(h.sequence, h.hash) for h in heads if h is not None]
        last = batch[-1].hash
        assert [(0, GENESIS), (1, single.hash), (4, last), (4, last)] == seen

    async def test_verify_proves_the_log_still_extends_an_earlier_head(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        await _append_many(audit_log_harness, 3)
        earlier = (await log.verify()).head
        assert earlier is not None
        await _append_many(audit_log_harness, 4)
        result = await log.verify(anchor=earlier)
        assert (True, 7) == (result.ok, result.checked)
        assert (True, 7) == ((await log.verify(anchor=result.head)).ok, result.checked)

    async def test_an_anchor_the_log_does_not_extend_is_named(
        self, audit_log_harness: AuditLogHarness
    ) -> None:
        log = audit_log_harness.audit_log
        entries = await _append_many(audit_log_harness, 5)
        head = (await log.verify()).head
        assert head is not None
        ahead = attrs.evolve(head, sequence=8)  # an anchor from a log that had 8 records
        other = attrs.evolve(head, sequence=3, hash=entries[0].hash)  # record 3 was different
        longer = await log.verify(anchor=ahead)
        rewritten = await log.verify(anchor=other)
        assert (False, 6) == (longer.ok, longer.first_bad_sequence)
        assert (False, 3) == (rewritten.ok, rewritten.first_bad_sequence)
