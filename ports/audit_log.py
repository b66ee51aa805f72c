"""The `AuditLog` port: an append-only, tamper-evident record of every decision and broker call.

Contract (proved by `tests/contract/test_audit_log_contract.py` for every adapter):
- `append` returns only after the record is durable (committed and synced where the store has
  such a thing); concurrent appends may share one commit (group commit). Sequences start at 1 and
  increase by 1 without gaps, in append order.
- Each entry holds the hash of the previous one; `verify()` recomputes the chain and names the
  first bad sequence. Nothing is updated or deleted except by `purge_before`, which refuses to
  delete records younger than the retention period (7 years by default).
- A head checkpoint (last sequence and hash, purge anchor, keyed or not, and their MAC) moves with
  every durable write; `verify()` holds the chain against it, so records missing at the end are
  named too, and returns it (`VerifyResult.head`). `verify(anchor=head)` with a head saved
  earlier also proves the log still extends it. A keyed store verified without its key raises.
- `append_many` stores a list in order in one durable write (one transaction and one fsync where
  the store has them): all of it or, when it raises, none of it.
- A failed append raises (never logs and continues): the caller must stop what it was doing.
- `query` filters by correlation id, kind and time range, in sequence order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.values import CorrelationId

__all__ = ["AuditLog"]


@runtime_checkable
class AuditLog(Protocol):
    """A durable, hash-chained audit store."""

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Store `record` durably and return its chained entry."""

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` durably, in order, all or none, in one write; their entries."""

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every given filter, oldest first."""

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Recompute the chain and hold it against the head checkpoint (and `anchor`, a head
        saved earlier); report the first record whose hash or link does not match."""

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete records older than `cutoff`; refuses cutoffs inside the retention period."""

    async def close(self) -> None:
        """Flush and release the store."""
