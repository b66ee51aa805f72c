"""`SqliteAuditLog`: the embedded, default `AuditLog` — one SQLite file, hash-chained, durable.

- `append` returns after the record's transaction committed with WAL and `synchronous=FULL`;
  concurrent appends share one commit (see `writer.py`).
- Each stored record holds its canonical JSON, the previous record's hash and its own hash
  (SHA-256, or HMAC-SHA256 with a key); `verify` streams the table once and names the first bad
  sequence.
- UPDATE and DELETE are refused by triggers; `purge_before` deletes a prefix of the chain only
  when every deleted record is older than the retention period (7 years by default) and keeps the
  hash of the last deleted record as the new anchor, so the rest still verifies.

This adapter must never log or store the HMAC key, never report an append as done before its
commit returned, and never skip a failed append.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs

from ordergate.adapters.serialization import (
    AuditStoreError,
    RetentionViolation,
    canonical_record_parts,
    format_ts,
    hmac_key_from_env,
    record_from_canonical,
    retention_limit,
    verify_chain,
)
from ordergate.adapters.sqlite.schema import (
    MISMATCHED_COLUMNS,
    MISMATCHED_COLUMNS_GUARDED,
    connect,
)
from ordergate.adapters.sqlite.writer import GroupCommitWriter, entries_of
from ordergate.domain.audit import AuditEntry, AuditRecord, VerifyResult
from ordergate.domain.values import CorrelationId, check_utc

__all__ = ["RetentionViolation", "SqliteAuditConfig", "SqliteAuditLog"]

DEFAULT_RETENTION_YEARS = 7
# The lookup up to its watermark, plus a rowid-range scan of the short unindexed tail.
_BY_CORRELATION = (
    "seq IN (SELECT seq FROM audit_by_correlation WHERE correlation_id = ?"
    " UNION ALL SELECT seq FROM audit_log WHERE correlation_id = ?"
    " AND seq > (SELECT indexed_through FROM audit_lookup_state))"
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class SqliteAuditConfig:
    """Where the log lives and how it is keyed.

    `hmac_key_env` names the environment variable holding the HMAC key (e.g.
    `ORDERGATE_AUDIT_HMAC_KEY`); the key itself never appears in config.
    """

    path: str
    hmac_key_env: str | None = None
    retention_years: int = DEFAULT_RETENTION_YEARS
    max_batch: int = 8192


class SqliteAuditLog:
    """An `AuditLog` in one SQLite file. Build it with `await SqliteAuditLog.open(path)`."""

    def __init__(
        self,
        path: Path,
        writer: GroupCommitWriter,
        *,
        hmac_key: bytes | None,
        retention_years: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._path = path
        self._writer = writer
        self._key = hmac_key
        self._retention_years = retention_years
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        hmac_key: bytes | None = None,
        retention_years: int = DEFAULT_RETENTION_YEARS,
        clock: Callable[[], datetime] | None = None,
        max_batch: int = 8192,
    ) -> SqliteAuditLog:
        """Open (creating if needed) the log at `path` and start its writer.

        `clock` tells the retention guard what time it is (aware UTC; the system clock by
        default); SQLite's own trigger also refuses, on the system clock, to delete records
        younger than the `retention_years` the file was created with. Records appended with
        another key than the file was written with will not verify: keep the key stable for
        the life of the file.
        """
        file = Path(path)
        writer = GroupCommitWriter(
            file, hmac_key, retention_years=retention_years, max_batch=max_batch
        )
        await asyncio.to_thread(writer.start)
        return cls(
            file,
            writer,
            hmac_key=hmac_key,
            retention_years=retention_years,
            clock=clock or _utc_now,
        )

    @classmethod
    async def from_config(
        cls, config: SqliteAuditConfig, environ: Mapping[str, str] | None = None
    ) -> SqliteAuditLog:
        """Open the log `config` describes, taking the HMAC key from the environment."""
        key = hmac_key_from_env(config.hmac_key_env, os.environ if environ is None else environ)
        return await cls.open(
            config.path,
            hmac_key=key,
            retention_years=config.retention_years,
            max_batch=config.max_batch,
        )

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def __repr__(self) -> str:
        keyed = "hmac-sha256" if self._key is not None else "sha256"
        return f"SqliteAuditLog(path={str(self._path)!r}, chain={keyed})"

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Store `record` durably (committed and fsynced) and return its chained entry."""
        body, ts = canonical_record_parts(record)
        rows, at = await self._writer.submit([(record, body, ts)])
        return AuditEntry(rows[at], record, rows[at + 5].hex(), rows[at + 6].hex())

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` in order, in one transaction (bulk import; same guarantees)."""
        if not records:
            return []
        stored = await self._writer.submit([(r, *canonical_record_parts(r)) for r in records])
        return entries_of(stored, records)

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries matching every filter, oldest sequence first; `since <= ts <= until`."""
        clauses: list[str] = []
        params: list[object] = []
        if correlation_id is not None:
            clauses.append(_BY_CORRELATION)
            params.extend((correlation_id.value, correlation_id.value))
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(format_ts(since))
        if until is not None:
            clauses.append("ts <= ?")
            params.append(format_ts(until))
        sql = "SELECT seq, body, prev_hash, hash FROM audit_log"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await asyncio.to_thread(self._read, sql, params)
        entries = [
            AuditEntry(seq, record_from_canonical(body), prev.hex(), digest.hex())
            for seq, body, prev, digest in rows
        ]
        # The indexed columns are copies; the body decides (a tampered column cannot add rows).
        return [
            e
            for e in entries
            if (correlation_id is None or e.record.correlation_id == correlation_id)
            and (kind is None or e.record.kind == kind)
            and (since is None or e.record.ts >= since)
            and (until is None or e.record.ts <= until)
        ]

    async def verify(self) -> VerifyResult:
        """Recompute every hash and link; the first bad sequence and why, if any.

        The hash walk and the check that the indexed columns agree with the stored bodies run
        side by side (the latter inside SQLite, off the GIL).
        """
        (chain, first), mismatch = await asyncio.gather(
            asyncio.to_thread(self._verify_chain), asyncio.to_thread(self._mismatched_columns)
        )
        walked_past = first + chain.checked  # rows the walk accepted: first .. walked_past - 1
        bad = chain.first_bad_sequence
        if mismatch is None or mismatch >= (walked_past if bad is None else bad):
            return chain
        return VerifyResult(
            ok=False,
            checked=mismatch - first,
            first_bad_sequence=mismatch,
            reason=f"{mismatch}: indexed columns (ts/kind/correlation_id) disagree with the record",
        )

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete the oldest records with `ts < cutoff`; refuse cutoffs inside the retention.

        Only a prefix of the chain is deleted (up to the first record at or after `cutoff`),
        so what remains still verifies from the stored anchor. Returns how many were deleted.
        """
        check_utc("purge_before(cutoff)", cutoff)
        limit = retention_limit(self._clock(), self._retention_years)
        if cutoff > limit:
            raise RetentionViolation(cutoff, limit, self._retention_years)
        return await asyncio.to_thread(self._purge, format_ts(cutoff))

    async def close(self) -> None:
        """Commit whatever is queued, then stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._writer.stop)

    # --- blocking helpers (run in worker threads, each on its own connection) -------------------

    def _read(self, sql: str, params: list[object]) -> list[tuple[int, bytes, bytes, bytes]]:
        with contextlib.closing(self._connect()) as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise AuditStoreError(f"audit query on {self._path} failed: {exc}") from exc

    def _mismatched_columns(self) -> int | None:
        with contextlib.closing(self._connect()) as conn:
            try:
                (sequence,) = conn.execute(MISMATCHED_COLUMNS).fetchone()
            except sqlite3.OperationalError:  # some body is not JSON at all
                (sequence,) = conn.execute(MISMATCHED_COLUMNS_GUARDED).fetchone()
            return None if sequence is None else int(sequence)

    def _verify_chain(self) -> tuple[VerifyResult, int]:
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN")  # one snapshot for the anchor and the rows
            try:
                purged, anchor = conn.execute(
                    "SELECT purged_through, anchor_hash FROM audit_anchor"
                ).fetchone()
                rows = conn.execute("SELECT seq, prev_hash, hash, body FROM audit_log ORDER BY seq")
                result = verify_chain(rows, first_sequence=purged + 1, anchor=anchor, key=self._key)
                return result, purged + 1
            finally:
                conn.execute("ROLLBACK")

    def _purge(self, cutoff: str) -> int:
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = _delete_prefix(conn, cutoff)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return deleted

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditStoreError(f"audit log {self._path} is closed")
        return connect(self._path)


def _delete_prefix(conn: sqlite3.Connection, cutoff: str) -> int:
    """Delete records before the first one at/after `cutoff`; move the anchor (in a txn)."""
    (purged,) = conn.execute("SELECT purged_through FROM audit_anchor").fetchone()
    (first_young,) = conn.execute(
        "SELECT min(seq) FROM audit_log WHERE ts >= ?", (cutoff,)
    ).fetchone()
    if first_young is None:
        (last,) = conn.execute("SELECT max(seq) FROM audit_log").fetchone()
        through = purged if last is None else last
    else:
        through = first_young - 1
    if through <= purged:
        return 0
    (anchor,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (through,)).fetchone()
    conn.execute("INSERT INTO audit_purge_window (through) VALUES (?)", (through,))
    deleted = conn.execute("DELETE FROM audit_log WHERE seq <= ?", (through,)).rowcount
    conn.execute(
        "UPDATE audit_anchor SET purged_through = ?, anchor_hash = ? WHERE id = 1",
        (through, anchor),
    )
    conn.execute("DELETE FROM audit_purge_window")
    conn.execute("DELETE FROM audit_by_correlation WHERE seq <= ?", (through,))
    conn.execute(
        "UPDATE audit_lookup_state SET indexed_through = max(indexed_through, ?)", (through,)
    )
    return int(deleted)
