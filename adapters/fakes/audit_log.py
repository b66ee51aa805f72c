"""`InMemoryAuditLog`: an `AuditLog` kept in memory with a real SHA-256 hash chain.

Each stored row holds the canonical JSON of its record and the hash of the previous row; the row's
hash is the same chain hash the SQLite and PostgreSQL logs use (`adapters/serialization.py`:
SHA-256 over the previous hash and the record), so changing any stored byte is caught by
`verify()`, which names the first bad sequence. Like the stores, it keeps a head checkpoint
(last sequence and hash, purge anchor, SHA-256 MAC: the fake is never keyed) that moves with
every append, so rows lost at the end are named too, and `verify(anchor=...)` proves the log
still extends a head saved earlier. A retention guard refuses to purge
records younger than seven years. The rows live in a `MemoryAuditStore` that outlives a log
handle, so "close and reopen" keeps the records. It must never update or delete a row except by
`purge_before` (and the `tamper` control that exists to prove `verify`), and never accept a
float into a payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import attrs

from ordergate.adapters.serialization import (
    GENESIS_HASH,
    canonical_record_json,
    chain_hash,
    check_anchor,
    check_head,
    head_mac,
    make_head,
    record_from_canonical,
)
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.values import CorrelationId, check_utc
from ordergate.ports.clock import Clock

__all__ = ["GENESIS_HASH", "InMemoryAuditLog", "MemoryAuditStore", "row_hash"]

RETENTION_YEARS = 7


def row_hash(prev_hash: str, body: bytes) -> str:
    """The hex hash of a row: the same chain hash the SQLite and PostgreSQL logs compute."""
    return chain_hash(bytes.fromhex(prev_hash), body).hex()


@attrs.define
class _Row:
    sequence: int
    body: bytes  # canonical JSON of the record, as a database would store it
    prev_hash: str
    hash: str
    ts: datetime
    # (body, kind, correlation id) as read from `body`, kept while `body` is that same object
    # (a test that tampers with `body` gets it read again): a query filters on these first and
    # reads back only the rows that match.
    keys: tuple[bytes, str, CorrelationId | None] | None = None


def _decode(row: _Row) -> AuditEntry:
    return AuditEntry(row.sequence, record_from_canonical(row.body), row.prev_hash, row.hash)


def _keys(row: _Row) -> tuple[str, CorrelationId | None]:
    keys = row.keys
    if keys is None or keys[0] is not row.body:
        record = record_from_canonical(row.body)
        keys = row.keys = (row.body, record.kind, record.correlation_id)
    return keys[1], keys[2]


class MemoryAuditStore:
    """The rows of one in-memory audit log; survives closing the log that wrote them."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.anchor = GENESIS_HASH  # hash the first remaining row links to (after purges)
        self.purged_through = 0
        self.next_sequence = 1
        self.head_hash = GENESIS_HASH  # the head checkpoint: last sequence is next_sequence - 1

    def head(self) -> AuditHead:
        """The head checkpoint of these rows (an unkeyed one: SHA-256 MAC)."""
        sequence = self.next_sequence - 1
        last, anchor = bytes.fromhex(self.head_hash), bytes.fromhex(self.anchor)
        mac = head_mac(sequence, last, self.purged_through, anchor, False, None)
        return make_head(sequence, last, self.purged_through, anchor, False, mac)


def _years_before(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year - years)
    except ValueError:  # 29 February in a non-leap target year
        return when.replace(year=when.year - years, day=28)


class InMemoryAuditLog:
    """An audit log over a `MemoryAuditStore` (a new empty one by default).

    `clock` supplies "now" for the retention guard (the system clock when None). Controls:
    `tamper(sequence)` changes one stored byte of a row, as an attacker with database access would.
    """

    def __init__(
        self,
        store: MemoryAuditStore | None = None,
        *,
        clock: Clock | None = None,
        retention_years: int = RETENTION_YEARS,
    ) -> None:
        self.store = store if store is not None else MemoryAuditStore()
        self._clock = clock
        self._retention_years = retention_years
        self._closed = False

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Chain and store `record`; it is in the store when this returns."""
        self._check_open("append")
        body = canonical_record_json(record)  # refuses floats slipped into the payload
        return self._store(record, body)

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Chain and store `records` in order; all or none (every record is encoded, and so
        checked, before the first is stored)."""
        self._check_open("append_many")
        bodies = [canonical_record_json(record) for record in records]
        return [self._store(record, body) for record, body in zip(records, bodies, strict=True)]

    def _store(self, record: AuditRecord, body: bytes) -> AuditEntry:
        store = self.store
        prev_hash = store.rows[-1].hash if store.rows else store.anchor
        sequence = store.next_sequence
        row = _Row(sequence, body, prev_hash, row_hash(prev_hash, body), record.ts)
        row.keys = (body, record.kind, record.correlation_id)
        store.rows.append(row)
        store.next_sequence += 1
        store.head_hash = row.hash
        return AuditEntry(sequence, record, prev_hash, row.hash)

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter (`since` inclusive, `until` exclusive), oldest first."""
        self._check_open("query")
        found: list[AuditEntry] = []
        for row in self.store.rows:
            if limit is not None and len(found) >= limit:
                break
            if correlation_id is not None or kind is not None:
                row_kind, row_correlation = _keys(row)
                if correlation_id is not None and row_correlation != correlation_id:
                    continue
                if kind is not None and row_kind != kind:
                    continue
            entry = _decode(row)
            record = entry.record
            if since is not None and record.ts < since:
                continue
            if until is not None and record.ts >= until:
                continue
            found.append(entry)
        return found

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Recompute every hash and link and hold them against the head checkpoint (and
        `anchor`); report the first row that does not match."""
        self._check_open("verify")
        head = self.store.head()
        first = self.store.purged_through + 1
        walked = self._walk(first)
        last = bytes.fromhex(
            self.store.rows[walked.checked - 1].hash if walked.checked else self.store.anchor
        )
        result = check_head(walked, first, last, head, None)
        if result.ok and anchor is not None:
            at = [row.hash for row in self.store.rows if row.sequence == anchor.sequence]
            result = check_anchor(head, anchor, at[0] if at else None, None) or result
        return attrs.evolve(result, head=head)

    def _walk(self, first: int) -> VerifyResult:
        expected_prev = self.store.anchor
        expected_sequence = first
        checked = 0
        for row in self.store.rows:
            reason = ""
            if row.sequence != expected_sequence:
                reason = f"sequence gap: expected {expected_sequence}, found {row.sequence}"
            elif row.prev_hash != expected_prev:
                reason = "link broken: prev_hash does not match the previous record's hash"
            elif row_hash(row.prev_hash, row.body) != row.hash:
                reason = "content changed: the record's hash does not match its content"
            if reason:
                return VerifyResult(False, checked, row.sequence, reason)
            checked += 1
            expected_prev = row.hash
            expected_sequence += 1
        return VerifyResult(True, checked)

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete the oldest records dated before `cutoff`; refuses a cutoff inside retention."""
        self._check_open("purge_before")
        check_utc("InMemoryAuditLog.purge_before.cutoff", cutoff)
        now = self._clock.now() if self._clock is not None else datetime.now(UTC)
        oldest_allowed = _years_before(now, self._retention_years)
        if cutoff > oldest_allowed:
            raise InvalidValue(
                "InMemoryAuditLog.purge_before.cutoff",
                cutoff,
                f"is inside the {self._retention_years}-year retention period; records dated "
                f"after {oldest_allowed.isoformat()} must be kept (pass an earlier cutoff)",
            )
        rows = self.store.rows
        count = 0
        # Only a prefix can go: deleting from the middle would break the chain's links.
        while count < len(rows) and rows[count].ts < cutoff:
            count += 1
        if count:
            self.store.anchor = rows[count - 1].hash
            self.store.purged_through = rows[count - 1].sequence
            del rows[:count]
        return count

    async def close(self) -> None:
        """Release the handle (the store keeps the rows)."""
        self._closed = True

    def tamper(self, sequence: int) -> None:
        """Change one character of the stored record `sequence` without re-hashing it."""
        for row in self.store.rows:
            if row.sequence == sequence:
                marker = b'"kind":"'
                at = row.body.index(marker) + len(marker)
                if row.body[at : at + 1] == b'"':  # empty kind: insert rather than break JSON
                    row.body = row.body[:at] + b"X" + row.body[at:]
                else:
                    replacement = b"X" if row.body[at : at + 1] != b"X" else b"Y"
                    row.body = row.body[:at] + replacement + row.body[at + 1 :]
                return
        raise InvalidValue("InMemoryAuditLog.tamper.sequence", sequence, "no such record")

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise OrdergateError(f"audit log {operation}: the log is closed; open a new one")
