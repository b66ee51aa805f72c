"""`ReadThroughAuditLog` over a real SQLite file: reads see the stored log then the scratch
records; appends never reach the file; purges are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.read_through_audit import ReadThroughAuditLog
from ordergate.adapters.serialization import AuditStoreError
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.domain.audit import AuditRecord
from ordergate.domain.values import CorrelationId

T0 = datetime(2026, 12, 7, 21, tzinfo=UTC)


async def stored_log(path: Path) -> bytes:
    log = await SqliteAuditLog.open(path)
    await log.append(AuditRecord("broker.fill", T0, {"execution_id": "E1"}, CorrelationId("S1")))
    await log.append(AuditRecord("risk.decision", T0, {"approved": True}, CorrelationId("S2")))
    await log.close()
    return path.read_bytes()


async def test_reads_see_the_stored_log_then_the_scratch_and_the_file_is_never_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    before = await stored_log(path)
    log = ReadThroughAuditLog(
        await SqliteAuditLog.open(path, read_only=True), InMemoryAuditLog()
    )
    await log.append(AuditRecord("adoption.report", T0, {"adopted": 0}))
    await log.append_many([AuditRecord("broker.fill", T0, {"execution_id": "E2"})])
    fills = await log.query(kind="broker.fill")
    assert ["E1", "E2"] == [e.record.payload["execution_id"] for e in fills]
    assert ["broker.fill"] == [e.record.kind for e in await log.query(limit=1)]
    assert [CorrelationId("S2")] == [
        e.record.correlation_id for e in await log.query(correlation_id=CorrelationId("S2"))
    ]
    assert (True, 2) == ((result := await log.verify()).ok, result.checked)
    with pytest.raises(AuditStoreError, match="read-only"):
        await log.purge_before(T0)
    await log.close()
    assert before == path.read_bytes()
    reopened = await SqliteAuditLog.open(path, read_only=True)
    assert ["broker.fill", "risk.decision"] == [e.record.kind for e in await reopened.query()]
    await reopened.close()
