"""InMemoryAuditLog: the hash chain itself, what verify catches, retention and closing."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from ordergate.adapters.fakes.audit_log import GENESIS_HASH, InMemoryAuditLog
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.testing import HARNESS_START
from ordergate.adapters.serialization import canonical_record_json
from ordergate.application.testing.contracts.audit_log import audit_record
from ordergate.domain.errors import InvalidValue, OrdergateError


async def test_first_entry_links_to_genesis_and_hashes_its_canonical_json() -> None:
    log = InMemoryAuditLog()
    record = audit_record("k", ts=HARNESS_START, b="2", a="1")
    entry = await log.append(record)
    body = canonical_record_json(record)
    assert GENESIS_HASH == entry.prev_hash
    # The same chain hash as the SQLite and PostgreSQL logs: SHA-256(previous hash || record).
    assert hashlib.sha256(bytes.fromhex(GENESIS_HASH) + body).hexdigest() == entry.hash
    assert body.index(b'"a"') < body.index(b'"b"')  # sorted keys: same record, same bytes


async def test_verify_catches_a_broken_link() -> None:
    log = InMemoryAuditLog()
    for index in range(3):
        await log.append(audit_record(index=index))
    log.store.rows[1].prev_hash = GENESIS_HASH
    result = await log.verify()
    assert (False, 2, 1) == (result.ok, result.first_bad_sequence, result.checked)


async def test_verify_catches_a_missing_record() -> None:
    log = InMemoryAuditLog()
    for index in range(3):
        await log.append(audit_record(index=index))
    del log.store.rows[1]
    assert 3 == (await log.verify()).first_bad_sequence


async def test_retention_is_measured_on_the_given_clock() -> None:
    clock = FakeClock(HARNESS_START)
    log = InMemoryAuditLog(clock=clock)
    await log.append(audit_record(ts=HARNESS_START))
    with pytest.raises(InvalidValue, match="retention"):
        await log.purge_before(HARNESS_START + timedelta(days=1))
    clock.advance(timedelta(days=7 * 366).total_seconds())
    assert 1 == await log.purge_before(HARNESS_START + timedelta(days=1))
    assert (True, 0) == ((await log.verify()).ok, (await log.verify()).checked)


async def test_a_closed_log_refuses_work() -> None:
    log = InMemoryAuditLog()
    await log.close()
    with pytest.raises(OrdergateError):
        await log.append(audit_record())


async def test_tamper_of_an_unknown_sequence_is_an_error() -> None:
    with pytest.raises(InvalidValue):
        InMemoryAuditLog().tamper(1)
