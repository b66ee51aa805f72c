"""`MeteredAuditLog`: an `AuditLog` that reports every write to a `Metrics` port.

The gate wraps its audit log in one when it is given metrics (`Ports.metrics`): each durable
write reports its records and latency (`Metrics.audit_appended`), a write that raises reports
the failure (`Metrics.audit_failed`) and raises on. Reads, verification and purges pass through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.values import CorrelationId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.metrics import Metrics

__all__ = ["MeteredAuditLog"]


class MeteredAuditLog:
    """Delegates to `inner`; tells `metrics` of every write."""

    def __init__(self, inner: AuditLog, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def append(self, record: AuditRecord) -> AuditEntry:
        started = perf_counter()
        try:
            entry = await self.inner.append(record)
        except Exception as exc:
            self._metrics.audit_failed(f"{type(exc).__name__}: {exc}")
            raise
        self._metrics.audit_appended((record,), perf_counter() - started)
        return entry

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        started = perf_counter()
        try:
            entries = await self.inner.append_many(records)
        except Exception as exc:
            self._metrics.audit_failed(f"{type(exc).__name__}: {exc}")
            raise
        self._metrics.audit_appended(records, perf_counter() - started)
        return entries

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        return await self.inner.query(
            correlation_id=correlation_id, kind=kind, since=since, until=until, limit=limit
        )

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        return await self.inner.verify(anchor)

    async def purge_before(self, cutoff: datetime) -> int:
        return await self.inner.purge_before(cutoff)

    async def close(self) -> None:
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # what a store offers beyond the port (its path, head checkpoint...) stays reachable
        return getattr(self.inner, name)
