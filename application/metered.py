"""`MeteredAuditLog`: an `AuditLog` that reports every write to a `Metrics` port.

The gate wraps its audit log in one when it is given metrics (`Ports.metrics`): each durable
write reports its records and latency (`Metrics.audit_appended`), a write that raises reports
the failure (`Metrics.audit_failed`) and raises on. Reads, verification and purges pass through.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from time import perf_counter
from typing import Any

from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.values import CorrelationId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.metrics import Metrics

__all__ = ["FanOutMetrics", "MeteredAuditLog"]

_log = logging.getLogger("ordergate.metrics")


class FanOutMetrics:
    """Tells every one of `targets` (a metrics backend, the alert rules...)."""

    def __init__(self, *targets: Metrics) -> None:
        self.targets = targets

    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        for target in self.targets:
            target.audit_appended(records, seconds)

    def audit_failed(self, error: str) -> None:
        for target in self.targets:
            target.audit_failed(error)

    def signal_handled(self, outcome: str, seconds: float) -> None:
        for target in self.targets:
            target.signal_handled(outcome, seconds)

    def event_lag(self, seconds: float) -> None:
        for target in self.targets:
            target.event_lag(seconds)


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
            self._tell_failure(exc)
            raise
        self._tell((record,), perf_counter() - started)
        return entry

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        started = perf_counter()
        try:
            entries = await self.inner.append_many(records)
        except Exception as exc:
            self._tell_failure(exc)
            raise
        self._tell(records, perf_counter() - started)
        return entries

    def _tell(self, records: Sequence[AuditRecord], seconds: float) -> None:
        # The write is durable: whatever the observer does, the caller goes on as if it had
        # not been watched (a fault of the metrics or the alert rules is logged, never raised).
        try:
            self._metrics.audit_appended(records, seconds)
        except Exception:
            _log.exception("metrics: audit_appended failed")

    def _tell_failure(self, exc: Exception) -> None:
        try:
            self._metrics.audit_failed(f"{type(exc).__name__}: {exc}")
        except Exception:
            _log.exception("metrics: audit_failed failed")

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
