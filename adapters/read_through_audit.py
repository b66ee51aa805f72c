"""`ReadThroughAuditLog`: a stored audit log read, never written, for one-shot reads.

A read through a one-shot gate (`ordergate reconcile --dry-run` on IBKR with no service
running) needs what the stored log knows — the executions already applied, the decisions that
make an open order ours — but must write nothing. This log answers queries from the stored log
(opened read-only) followed by what the gate recorded during the read, and keeps those records
in a scratch log in memory: they are discarded on `close`, never reach the store.

It must never be used by a gate that sends orders: what it is told to append is not durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ordergate.adapters.serialization import AuditStoreError
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.values import CorrelationId
from ordergate.ports.audit_log import AuditLog

__all__ = ["ReadThroughAuditLog"]


class ReadThroughAuditLog:
    """Queries read `stored` (read-only) then `scratch`; appends go to `scratch` only."""

    def __init__(self, stored: AuditLog, scratch: AuditLog) -> None:
        self._stored = stored
        self._scratch = scratch

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Keep `record` in the scratch log (memory): the stored log is not written."""
        return await self._scratch.append(record)

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Keep `records` in the scratch log (memory): the stored log is not written."""
        return await self._scratch.append_many(records)

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """The stored log's matching entries, then the scratch log's, oldest first."""
        stored = await self._stored.query(
            correlation_id=correlation_id, kind=kind, since=since, until=until, limit=limit
        )
        if limit is not None and len(stored) >= limit:
            return stored[:limit]
        rest = None if limit is None else limit - len(stored)
        scratch = await self._scratch.query(
            correlation_id=correlation_id, kind=kind, since=since, until=until, limit=rest
        )
        return stored + scratch

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Verify the stored log (the scratch records are not part of it)."""
        return await self._stored.verify(anchor)

    async def purge_before(self, cutoff: datetime) -> int:
        """Refused: a read never deletes."""
        raise AuditStoreError(
            f"purge_before({cutoff.isoformat()}) refused: this audit log is opened read-only"
        )

    async def close(self) -> None:
        """Discard the scratch records and release the stored log."""
        try:
            await self._scratch.close()
        finally:
            await self._stored.close()
