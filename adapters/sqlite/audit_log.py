"""`SqliteAuditLog`: the embedded, default `AuditLog` — one SQLite file, hash-chained, durable.

- `append` returns after the record's transaction committed with WAL and `synchronous=FULL`;
  concurrent appends share one commit (see `writer.py`).
- Each stored record holds its canonical JSON, the previous record's hash and its own hash
  (SHA-256, or HMAC-SHA256 with a key); `verify` streams the table once and names the first bad
  sequence.
- UPDATE and DELETE are refused by triggers; `purge_before` deletes a prefix of the chain only
  when every deleted record is older than the retention period (7 years by default) and keeps the
  hash of the last deleted record as the new anchor, so the rest still verifies.
- The head checkpoint (`audit_head`) moves with every commit; `verify` holds the chain against it
  (and against an anchor kept elsewhere, when given) and reads through `mode=ro` connections
  only. `open(..., read_only=True)` starts no writer and refuses any file that is not an
  ordergate log without changing it; `backup` copies a log with SQLite's online backup API.

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
    AUDIT_APPLICATION_ID,
    AUDIT_FORMAT_VERSION,
    AuditStoreError,
    LegacyAuditLog,
    NotAnAuditLog,
    RetentionViolation,
    canonical_record_parts,
    check_anchor,
    check_head,
    check_key,
    format_ts,
    head_mac,
    hmac_key_from_env,
    make_head,
    record_from_canonical,
    retention_limit,
    walk_chain,
)
from ordergate.adapters.sqlite.schema import (
    HEAD_TABLE,
    MISMATCHED_COLUMNS,
    MISMATCHED_COLUMNS_GUARDED,
    TRIGGERS,
    connect,
    connect_read_only,
    inspect,
    plain_connection,
)
from ordergate.adapters.sqlite.writer import GroupCommitWriter, entries_of, read_head
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
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
        writer: GroupCommitWriter | None,
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
        read_only: bool = False,
    ) -> SqliteAuditLog:
        """Open (creating if needed) the log at `path` and start its writer.

        `clock` tells the retention guard what time it is (aware UTC; the system clock by
        default); SQLite's own trigger also refuses, on the system clock, to delete records
        younger than the `retention_years` the file was created with. A file records whether it
        is keyed: opening a keyed log without its key, or an unkeyed one with a key, raises
        `AuditKeyError`. Another application's file is refused (`NotAnAuditLog`) and a log of the
        layout before the head checkpoint asks to be upgraded (`LegacyAuditLog`), both unchanged.

        `read_only=True` starts no writer and never writes: the file must exist (for `verify`,
        `query` and `backup`; appends and purges raise).
        """
        file = Path(path)
        if read_only:
            await asyncio.to_thread(_inspect_read_only, file)
            return cls(
                file,
                None,
                hmac_key=hmac_key,
                retention_years=retention_years,
                clock=clock or _utc_now,
            )
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
        rows, at = await self._writing().submit([(record, body, ts)])
        return AuditEntry(rows[at], record, rows[at + 5].hex(), rows[at + 6].hex())

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` in order, in one transaction (bulk import; same guarantees)."""
        if not records:
            return []
        stored = await self._writing().submit([(r, *canonical_record_parts(r)) for r in records])
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

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Recompute every hash and link and hold the chain against the head checkpoint (and
        `anchor`, a head saved earlier, when given); the first bad sequence and why, if any.

        Raises `AuditKeyError` for a keyed log opened without its key. The hash walk and the
        check that the indexed columns agree with the stored bodies run side by side (the latter
        inside SQLite, off the GIL).
        """
        wal = self._path.with_name(self._path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0  # before any connection makes one
        (chain, first), mismatch = await asyncio.gather(
            asyncio.to_thread(self._verify_chain, anchor, wal_size),
            asyncio.to_thread(self._mismatched_columns),
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
            head=chain.head,
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
        self._writing()
        return await asyncio.to_thread(self._purge, format_ts(cutoff))

    async def backup(self, destination: Path | str) -> None:
        """Copy the log, consistently, into the new file `destination` (SQLite's online backup
        API: every committed record, the WAL's included, while writers go on).

        The copy is a self-contained file (rollback journal, no `-wal`) that verifies on its own.
        An existing `destination` is refused.
        """
        await asyncio.to_thread(_backup, self._connect, Path(destination))

    @classmethod
    async def upgrade(cls, path: Path | str, *, hmac_key: bytes | None = None) -> VerifyResult:
        """Give a log of the layout before the head checkpoint its checkpoint (once).

        The chain is verified first (with `hmac_key` for a keyed log: the key decides whether
        the upgraded log is keyed); a chain that does not verify is left as it is and the
        failure returned. What a legacy log lost before the upgrade cannot be found afterwards:
        upgrade right after installing this version, and keep an anchor (docs/audit.md).
        """
        return await asyncio.to_thread(_upgrade, Path(path), hmac_key)

    async def close(self) -> None:
        """Commit whatever is queued, then stop the writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)

    def _writing(self) -> GroupCommitWriter:
        if self._writer is None:
            raise AuditStoreError(f"audit log {self._path} is open read-only: nothing is written")
        return self._writer

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

    def _verify_chain(self, anchor: AuditHead | None, wal_size: int) -> tuple[VerifyResult, int]:
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN")  # one snapshot for the checkpoint, the anchor and the rows
            try:
                head, writer_open = _stored_head(conn)
                refused = check_key(head, self._key, str(self._path))
                if refused is not None:
                    return attrs.evolve(refused, head=head), 1
                first = head.purged_through + 1
                rows = conn.execute("SELECT seq, prev_hash, hash, body FROM audit_log ORDER BY seq")
                walked, last = walk_chain(
                    rows,
                    first_sequence=first,
                    anchor=bytes.fromhex(head.anchor_hash),
                    key=self._key,
                )
                result = check_head(walked, first, last, head, self._key)
                if result.ok:
                    result = _check_file(conn, head, writer_open, wal_size) or result
                if result.ok and anchor is not None:
                    row = conn.execute(
                        "SELECT hash FROM audit_log WHERE seq = ?", (anchor.sequence,)
                    ).fetchone()
                    at_anchor = None if row is None else bytes(row[0]).hex()
                    result = check_anchor(head, anchor, at_anchor, self._key) or result
                return attrs.evolve(result, head=head), first
            finally:
                conn.execute("ROLLBACK")

    def _purge(self, cutoff: str) -> int:
        with contextlib.closing(self._connect_writable()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = _delete_prefix(conn, cutoff, self._key)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return deleted

    def _connect_writable(self) -> sqlite3.Connection:
        if self._closed:
            raise AuditStoreError(f"audit log {self._path} is closed")
        return connect(self._path)

    def _connect(self) -> sqlite3.Connection:
        """A read-only connection (every read goes through one; the writer has its own)."""
        if self._closed:
            raise AuditStoreError(f"audit log {self._path} is closed")
        return connect_read_only(self._path)


def _inspect_read_only(path: Path) -> None:
    if not path.is_file():
        raise NotAnAuditLog(f"{path} does not exist or is not a file: there is no log to read")
    with contextlib.closing(connect_read_only(path)) as conn:
        if not inspect(conn, path):
            raise NotAnAuditLog(
                f"{path} is empty: not an ordergate audit log (a log always holds its schema "
                "and head checkpoint; an emptied log has lost every record)"
            )


def _stored_head(conn: sqlite3.Connection) -> tuple[AuditHead, bool]:
    row = conn.execute(
        "SELECT seq, hash, purged_through, anchor_hash, keyed, mac, writer_open FROM audit_head"
    ).fetchone()
    if row is None:
        raise AuditStoreError("the audit head checkpoint row is missing: the file was changed")
    return make_head(*row[:6]), bool(row[6])


def _check_file(
    conn: sqlite3.Connection, head: AuditHead, writer_open: bool, wal_size: int
) -> VerifyResult | None:
    """What the chain cannot show: a purge anchor moved alone, a .db without its -wal."""
    purged, anchor = conn.execute("SELECT purged_through, anchor_hash FROM audit_anchor").fetchone()
    if (purged, bytes(anchor).hex()) != (head.purged_through, head.anchor_hash):
        first = min(purged, head.purged_through) + 1
        return VerifyResult(
            ok=False,
            checked=0,
            first_bad_sequence=first,
            reason=f"{first}: audit_anchor says the log starts after record {purged}, the head "
            f"checkpoint after record {head.purged_through}: its start was rewritten",
        )
    if writer_open and wal_size == 0:
        after = head.sequence + 1
        return VerifyResult(
            ok=False,
            checked=head.sequence - head.purged_through,
            first_bad_sequence=after,
            reason=f"{after}: this file was copied while a writer had it open (or was killed), "
            "without its -wal file: records committed after the copy's last checkpoint are "
            "missing (copy a log with `ordergate audit backup`)",
        )
    return None


def _backup(source: Callable[[], sqlite3.Connection], destination: Path) -> None:
    if destination.exists():
        raise AuditStoreError(f"backup destination {destination} exists: nothing was copied")
    with contextlib.closing(source()) as src:
        target = plain_connection(destination)
        try:
            src.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
            target.execute("UPDATE audit_head SET writer_open = 0")
        finally:
            target.close()


def _upgrade(path: Path, key: bytes | None) -> VerifyResult:
    with contextlib.closing(plain_connection(path)) as conn:
        try:
            inspect(conn, path)
        except LegacyAuditLog:
            pass
        else:
            raise AuditStoreError(f"{path} already has its head checkpoint: nothing to upgrade")
        conn.execute("BEGIN IMMEDIATE")
        try:
            purged, anchor = conn.execute(
                "SELECT purged_through, anchor_hash FROM audit_anchor"
            ).fetchone()
            rows = conn.execute("SELECT seq, prev_hash, hash, body FROM audit_log ORDER BY seq")
            walked, last = walk_chain(
                rows, first_sequence=purged + 1, anchor=bytes(anchor), key=key
            )
            if not walked.ok:
                conn.execute("ROLLBACK")
                return walked
            tip = purged + walked.checked
            keyed = key is not None
            conn.execute(HEAD_TABLE)
            for name in ("audit_head_guard", "audit_head_no_delete"):
                conn.execute(TRIGGERS[name])
            mac = head_mac(tip, last, purged, bytes(anchor), keyed, key)
            conn.execute(
                "INSERT INTO audit_head (id, seq, hash, purged_through, anchor_hash, keyed, mac)"
                " VALUES (1, ?, ?, ?, ?, ?, ?)",
                (tip, last, purged, bytes(anchor), int(keyed), mac),
            )
            conn.execute(f"PRAGMA application_id = {AUDIT_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {AUDIT_FORMAT_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    head = make_head(tip, last, purged, bytes(anchor), keyed, mac)
    return attrs.evolve(walked, head=head)


def _delete_prefix(conn: sqlite3.Connection, cutoff: str, key: bytes | None) -> int:
    """Delete records before the first one at/after `cutoff`; move the anchor and the head
    checkpoint's copy of it (in the caller's transaction)."""
    head = read_head(conn, key)
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
    mac = head_mac(head.sequence, head.hash, through, bytes(anchor), key is not None, key)
    conn.execute(
        "UPDATE audit_head SET purged_through = ?, anchor_hash = ?, mac = ? WHERE id = 1",
        (through, anchor, mac),
    )
    conn.execute("DELETE FROM audit_purge_window")
    conn.execute("DELETE FROM audit_by_correlation WHERE seq <= ?", (through,))
    conn.execute(
        "UPDATE audit_lookup_state SET indexed_through = max(indexed_through, ?)", (through,)
    )
    return int(deleted)
