"""Group commit for the SQLite audit log: one writer thread, one connection, one fsync per batch.

Appenders hand `_Pending` items to a queue and await their futures. The writer takes everything
queued, chains and inserts it in one `BEGIN IMMEDIATE … COMMIT` (WAL, `synchronous=FULL`), and
only then resolves the futures — so a future that completes means the record is on disk, and N
concurrent appends share one fsync. The chain head is re-read inside every transaction, so a
second process appending to the same file cannot fork the chain. Between batches (every
`index_batch` records, or when the queue has been idle a moment, and before stopping) the writer
brings the correlation lookup up to date.

The writer must never resolve a future before its commit returned, and never swallow a failed
commit: every waiter of a failed batch gets the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import attrs

from ordergate.adapters.serialization import AuditStoreError, chain_hash
from ordergate.adapters.sqlite.schema import connect, create_schema, index_correlations
from ordergate.domain.audit import AuditEntry, AuditRecord

__all__ = ["Encoded", "GroupCommitWriter", "read_head"]

_COLUMNS = 7
_CHUNKS = (256, 64, 16, 4, 1)  # rows per INSERT statement: few distinct statements to cache


def _insert_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO audit_log (seq, ts, kind, correlation_id, body, prev_hash, hash)"
        f" VALUES {values}"
    )


_INSERTS = {rows: _insert_sql(rows) for rows in _CHUNKS}


def _insert(conn: sqlite3.Connection, flat: list[object], count: int) -> None:
    """Insert `count` rows given as one flat parameter list.

    Multi-row statements matter here: sqlite3 releases and re-takes the GIL around every step,
    and each re-take can wait for the event loop's switch interval.
    """
    start = 0
    for chunk in _CHUNKS:
        width = chunk * _COLUMNS
        while count >= chunk:
            conn.execute(_INSERTS[chunk], flat[start : start + width])
            start += width
            count -= chunk


_STOP = object()
_IDLE_SECONDS = 0.05  # index the correlation backlog after this long without appends

Encoded = tuple[AuditRecord, bytes, str]
"""A record with its canonical bytes and the `ts` string inside them."""


@attrs.define
class _Pending:
    records: Sequence[Encoded]
    future: asyncio.Future[list[AuditEntry]]


_Outcome = list[AuditEntry] | BaseException


def read_head(conn: sqlite3.Connection) -> tuple[int, bytes]:
    """The last sequence and its hash (the purge anchor when the table is empty)."""
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        row = conn.execute("SELECT purged_through, anchor_hash FROM audit_anchor").fetchone()
    return int(row[0]), bytes(row[1])


class GroupCommitWriter:
    """The single writer of one SQLite audit file (see module docstring)."""

    def __init__(
        self,
        path: Path,
        key: bytes | None,
        *,
        retention_years: int = 7,
        max_batch: int = 8192,
        index_batch: int = 4096,
    ) -> None:
        self._path = path
        self._retention_years = retention_years
        self._key = key
        self._max_batch = max_batch
        self._index_batch = index_batch
        self._backlog = 0  # records committed but not yet in the correlation lookup
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # A daemon: a log nobody closed must not keep the process alive at exit. Stopping there
        # is a crash as far as SQLite is concerned (WAL: safe), and no waiter is left to lie to.
        self._thread = threading.Thread(
            target=self._run, name=f"audit-writer:{path.name}", daemon=True
        )
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._failure: BaseException | None = None
        self._closed = False

    def start(self) -> None:
        """Open the connection and create the schema (blocking; call it off the event loop)."""
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    def submit(self, records: Sequence[Encoded]) -> asyncio.Future[list[AuditEntry]]:
        """Queue encoded records; the future resolves once they are committed."""
        if self._closed:
            raise AuditStoreError(f"audit log {self._path} is closed; nothing was appended")
        if self._failure is not None:
            raise AuditStoreError(f"audit writer for {self._path} stopped: {self._failure}")
        future: asyncio.Future[list[AuditEntry]] = asyncio.get_running_loop().create_future()
        self._queue.put(_Pending(records, future))
        return future

    def stop(self) -> None:
        """Commit what is queued, index it, then close the connection (blocking)."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # --- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self._path)
            create_schema(conn, retention_years=self._retention_years)
            index_correlations(conn)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(conn)
            index_correlations(conn)
        except BaseException as exc:  # keep the thread's death visible to every later append
            self._failure = exc
            self._fail_queued(exc)
        finally:
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            try:
                first = self._queue.get(timeout=_IDLE_SECONDS if self._backlog else None)
            except queue.Empty:
                self._index(conn)
                continue
            if first is _STOP:
                return
            batch, stopping = self._drain(first)
            self._commit(conn, batch)
            if self._backlog >= self._index_batch:
                self._index(conn)
            if stopping:
                return

    def _drain(self, first: object) -> tuple[list[_Pending], bool]:
        batch: list[_Pending] = [first]  # type: ignore[list-item]
        size = len(batch[0].records)
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Pending)
            batch.append(item)
            size += len(item.records)
        return batch, False

    def _index(self, conn: sqlite3.Connection) -> None:
        index_correlations(conn)
        self._backlog = 0

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        key = self._key
        results: list[_Outcome] = []
        flat: list[object] = []
        count = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                sequence, prev = read_head(conn)
                for pending in batch:
                    entries = []
                    for record, body, ts in pending.records:
                        sequence += 1
                        digest = chain_hash(prev, body, key)
                        correlation = record.correlation_id
                        cid = None if correlation is None else correlation.value
                        flat += (sequence, ts, record.kind, cid, body, prev, digest)
                        entries.append(AuditEntry(sequence, record, prev.hex(), digest.hex()))
                        prev = digest
                    results.append(entries)
                count = len(flat) // _COLUMNS
                _insert(conn, flat, count)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            error = AuditStoreError(f"audit append to {self._path} failed, nothing stored: {exc}")
            error.__cause__ = exc
            _settle(batch, [error] * len(batch))
            return
        self._backlog += count
        _settle(batch, results)

    def _fail_queued(self, exc: BaseException) -> None:
        error = AuditStoreError(f"audit writer for {self._path} stopped: {exc}")
        pending: list[_Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Pending):
                pending.append(item)
        _settle(pending, [error] * len(pending))


def _settle(batch: list[_Pending], outcomes: Sequence[_Outcome]) -> None:
    """Resolve futures on their own loops: one thread-safe call per loop, not per record."""
    by_loop: dict[
        asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[AuditEntry]], _Outcome]]
    ]
    by_loop = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.future.get_loop(), []).append((pending.future, outcome))
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[list[AuditEntry]], _Outcome]]) -> None:
    for future, outcome in items:
        if future.done():  # the waiter was cancelled; the record is stored all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
