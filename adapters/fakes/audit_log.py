"""`InMemoryAuditLog`: an `AuditLog` kept in memory with a real SHA-256 hash chain.

Each stored row holds the canonical JSON of its record and the hash of the previous row; the row's
hash is SHA-256 over that JSON, which includes the previous hash, so changing any stored byte is
caught by `verify()`, which names the first bad sequence. A retention guard refuses to purge
records younger than seven years. The rows live in a `MemoryAuditStore` that outlives a log
handle, so "close and reopen" keeps the records. It must never update or delete a row except by
`purge_before` (and the `tamper` control that exists to prove `verify`), and never accept a
float into a payload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from ordergate.domain.audit import AuditEntry, AuditRecord, VerifyResult
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.values import CorrelationId, check_utc
from ordergate.ports.clock import Clock

__all__ = ["GENESIS_HASH", "InMemoryAuditLog", "MemoryAuditStore", "canonical_json"]

GENESIS_HASH = "0" * 64
RETENTION_YEARS = 7


def _plain(path: str, value: Any) -> Any:
    """`value` as plain JSON data; floats and non-JSON types raise `InvalidValue`."""
    if isinstance(value, float):
        raise InvalidValue(
            path, value, "floats are not allowed in audit payloads; use str(Decimal)"
        )
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(path, key, "payload keys must be strings")
            plain[key] = _plain(f"{path}.{key}", item)
        return plain
    if isinstance(value, list | tuple):
        return [_plain(f"{path}[{index}]", item) for index, item in enumerate(value)]
    raise InvalidValue(path, value, "must be JSON-compatible (str, int, bool, None, list, dict)")


def canonical_json(sequence: int, record: AuditRecord, prev_hash: str) -> str:
    """The exact text that is hashed: sorted keys, no spaces, UTF-8, the previous hash inside."""
    document = {
        "sequence": sequence,
        "kind": record.kind,
        "ts": record.ts.isoformat(),
        "correlation_id": None if record.correlation_id is None else str(record.correlation_id),
        "payload": _plain("AuditRecord.payload", record.payload),
        "prev_hash": prev_hash,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@attrs.define
class _Row:
    sequence: int
    body: str  # canonical JSON, as a database would store it
    prev_hash: str
    hash: str
    ts: datetime


def _decode(row: _Row) -> AuditEntry:
    document = json.loads(row.body)
    correlation = document["correlation_id"]
    record = AuditRecord(
        kind=document["kind"],
        ts=datetime.fromisoformat(document["ts"]),
        payload=document["payload"],
        correlation_id=None if correlation is None else CorrelationId(correlation),
    )
    return AuditEntry(row.sequence, record, row.prev_hash, row.hash)


class MemoryAuditStore:
    """The rows of one in-memory audit log; survives closing the log that wrote them."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.anchor = GENESIS_HASH  # hash the first remaining row links to (after purges)
        self.next_sequence = 1


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
        store = self.store
        prev_hash = store.rows[-1].hash if store.rows else store.anchor
        sequence = store.next_sequence
        body = canonical_json(sequence, record, prev_hash)
        row = _Row(sequence, body, prev_hash, _digest(body), record.ts)
        store.rows.append(row)
        store.next_sequence += 1
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
            entry = _decode(row)
            record = entry.record
            if correlation_id is not None and record.correlation_id != correlation_id:
                continue
            if kind is not None and record.kind != kind:
                continue
            if since is not None and record.ts < since:
                continue
            if until is not None and record.ts >= until:
                continue
            found.append(entry)
        return found

    async def verify(self) -> VerifyResult:
        """Recompute every hash and link; report the first row that does not match."""
        self._check_open("verify")
        expected_prev = self.store.anchor
        expected_sequence = self.store.rows[0].sequence if self.store.rows else 1
        checked = 0
        for row in self.store.rows:
            reason = ""
            if row.sequence != expected_sequence:
                reason = f"sequence gap: expected {expected_sequence}, found {row.sequence}"
            elif row.prev_hash != expected_prev:
                reason = "link broken: prev_hash does not match the previous record's hash"
            elif _digest(row.body) != row.hash:
                reason = "content changed: the record's hash does not match its content"
            elif json.loads(row.body).get("prev_hash") != row.prev_hash:
                reason = "content changed: the hashed prev_hash differs from the stored one"
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
            del rows[:count]
        return count

    async def close(self) -> None:
        """Release the handle (the store keeps the rows)."""
        self._closed = True

    def tamper(self, sequence: int) -> None:
        """Change one character of the stored record `sequence` without re-hashing it."""
        for row in self.store.rows:
            if row.sequence == sequence:
                marker = '"kind":"'
                at = row.body.index(marker) + len(marker)
                if row.body[at] == '"':  # empty kind: insert rather than break the JSON
                    row.body = row.body[:at] + "X" + row.body[at:]
                else:
                    replacement = "X" if row.body[at] != "X" else "Y"
                    row.body = row.body[:at] + replacement + row.body[at + 1 :]
                return
        raise InvalidValue("InMemoryAuditLog.tamper.sequence", sequence, "no such record")

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise OrdergateError(f"audit log {operation}: the log is closed; open a new one")
