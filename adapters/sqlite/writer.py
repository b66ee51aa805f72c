"""Group commit for the SQLite audit log: one writer thread, one connection, one fsync per batch.

Appenders hand `_Pending` items to a queue and await their futures. The writer takes everything
queued, chains it onto the head it committed last and stores it in one transaction
(`BEGIN IMMEDIATE`, WAL, `synchronous=FULL`) that also moves the head checkpoint
(`audit_head`): the UPDATE compares the stored head with the one the batch was chained on, so
when another process moved it since (or a purge changed its anchor) nothing is changed and the
batch is chained again, still inside the transaction, on the head read there — several processes
appending to one file cannot fork the chain, and the checkpoint always names the last committed
record. A head whose MAC does not match is refused (nothing is appended to a forged checkpoint).

Futures resolve only after their batch's commit returned — so a future that completes means the
record is on disk, and N concurrent appends share one fsync. The event loop and this thread share
one GIL: appenders woken while the writer still has Python work to do would hold it until every
one of them ran, and the writer would wait. So the writer wakes a committed batch's waiters only
once the next batch is chained, right before SQLite writes it without the GIL, and the loop runs
them (they queue their next appends) during that write and fsync. When the writer found nothing
queued and woke waiters before waiting, the batch that starts is topped up with the appends of
those waiters as they arrive (at most 2 ms, stopping at a 0.5 ms gap): one fsync for all of
them, instead of one for the first few and another for the rest (half-full commits alternating).
A single appender is never kept waiting: it woke one waiter, and its batch is full at one; nor
is an append that comes when the woken waiters have gone quiet (over 2 ms after the wake).

Between batches (every `index_batch` records, or when the queue has been idle a moment, and
before stopping) the writer brings the correlation lookup up to date.

The writer must never resolve a future before its commit returned, and never swallow a failed
commit: every waiter of a failed batch gets the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from ordergate.adapters.serialization import AuditStoreError, chain_hash, head_mac
from ordergate.adapters.sqlite.schema import (
    check_key_fits,
    connect,
    create_schema,
    index_correlations,
    inspect,
    plain_connection,
)
from ordergate.domain.audit import AuditEntry, AuditRecord

__all__ = ["Encoded", "GroupCommitWriter", "Head", "Stored", "entries_of", "read_head"]

_COLUMNS = 7  # seq, ts, kind, correlation_id, body, prev_hash, hash
# Padding rows (all 0, which binds faster than NULL) are dropped by `column1 > 0`.
_INSERT = (
    "INSERT INTO audit_log (seq, ts, kind, correlation_id, body, prev_hash, hash)"
    " SELECT * FROM (VALUES {rows}) WHERE column1 > 0"
)
# Moves the checkpoint only if it is still the one the batch was chained on (its MAC covers the
# sequence, hash and purge anchor, so one comparison of it says "nothing moved").
_MOVE_HEAD = (
    "UPDATE audit_head SET seq = ?, hash = ?, mac = ?, writer_open = 1"
    " WHERE id = 1 AND seq = ? AND mac = ?"
)
_STOP = object()
_IDLE_SECONDS = 0.05  # index the correlation backlog after this long without appends
_FILL_GAP = 0.0005  # seconds: a batch being filled stops growing after a gap this long
_FILL_MAX = 0.002  # seconds: and never waits longer than this for the rest of its appenders

Encoded = tuple[AuditRecord, bytes, str]
"""A record with its canonical bytes and the `ts` string inside them."""
Stored = tuple[list[Any], int]
"""A committed batch's parameter rows and where one submission's first row starts in them."""


def entries_of(stored: Stored, records: Sequence[AuditRecord]) -> list[AuditEntry]:
    """The chained entries of `records`, read from the rows they were stored with.

    Built by the appender, on the event loop, so the writer does not spend its time on them.
    """
    rows, start = stored
    return [
        AuditEntry(rows[at], record, rows[at + 5].hex(), rows[at + 6].hex())
        for at, record in zip(range(start, len(rows), _COLUMNS), records, strict=False)
    ]


@attrs.frozen
class Head:
    """The head checkpoint as stored: last sequence and hash, purge anchor, MAC."""

    sequence: int
    hash: bytes
    purged_through: int
    anchor_hash: bytes
    mac: bytes


def read_head(conn: sqlite3.Connection, key: bytes | None) -> Head:
    """The stored head checkpoint, refused (`AuditStoreError`) when its MAC does not match."""
    row = conn.execute(
        "SELECT seq, hash, purged_through, anchor_hash, keyed, mac FROM audit_head"
    ).fetchone()
    if row is None:
        raise AuditStoreError("the audit head checkpoint row is missing: the file was changed")
    sequence, last, purged, anchor, keyed, mac = row
    head = Head(int(sequence), bytes(last), int(purged), bytes(anchor), bytes(mac))
    check_key_fits(bool(keyed), key)
    expected = head_mac(
        head.sequence, head.hash, head.purged_through, head.anchor_hash, bool(keyed), key
    )
    if expected != head.mac:
        raise AuditStoreError(
            f"the audit head checkpoint (through record {head.sequence}) fails its MAC: a wrong "
            "HMAC key, or the log was changed behind ordergate; nothing is appended to it "
            "(run `ordergate audit verify`)"
        )
    return head


@attrs.define
class _Pending:
    records: Sequence[Encoded]
    future: asyncio.Future[Stored]


_Outcome = Stored | BaseException


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
        self._head: Head | None = None  # what this writer committed last
        self._max_rows = 1  # rows per statement; set from SQLite's parameter limit
        self._statements: dict[int, str] = {}
        self._untold: list[tuple[list[_Pending], list[_Outcome]]] = []  # done, waiters asleep
        self._woken = 0  # appends whose waiters the last `_tell` woke (they append again soon)
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

    def submit(self, records: Sequence[Encoded]) -> asyncio.Future[Stored]:
        """Queue encoded records; the future resolves once they are committed."""
        if self._closed:
            raise AuditStoreError(f"audit log {self._path} is closed; nothing was appended")
        if self._failure is not None:
            raise AuditStoreError(f"audit writer for {self._path} stopped: {self._failure}")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
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
            conn = plain_connection(self._path)
            inspect(conn, self._path)  # refuses another application's file before touching it
            conn.close()
            conn = connect(self._path)
            create_schema(conn, retention_years=self._retention_years, key=self._key)
            self._head = read_head(conn, self._key)
            # Said in the main file at once: a copy of the .db without its -wal shows it.
            conn.execute("UPDATE audit_head SET writer_open = 1")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            index_correlations(conn)
            # Every parameter of the INSERT is a column of a row.
            rows = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _COLUMNS
            self._max_rows = 1 << (rows.bit_length() - 1)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(conn)
            self._index(conn)
            conn.execute("UPDATE audit_head SET writer_open = 0")
        except BaseException as exc:  # keep the thread's death visible to every later append
            self._failure = exc
            self._fail_queued(AuditStoreError(f"audit writer for {self._path} stopped: {exc}"))
        else:  # an append that raced `stop` past its closed check finds nobody to store it
            self._fail_queued(AuditStoreError(f"audit log {self._path} is closed; not appended"))
        finally:
            self._tell()
            conn.close()

    def _loop(self, conn: sqlite3.Connection) -> None:
        batch: list[_Pending] = []
        stopping = False
        try:
            while not stopping:
                first, waited = self._next(conn)
                if first is None:
                    continue
                if first is _STOP:
                    return
                batch, stopping = self._drain(first)
                if waited and not stopping:
                    stopping = self._fill(batch)
                outcomes = self._commit(conn, batch)  # (tells earlier batches: see `_tell`)
                self._untold.append((batch, outcomes))
                batch = []
                if self._backlog >= self._index_batch:
                    self._index(conn)
        except BaseException as exc:
            error = AuditStoreError(f"audit writer for {self._path} stopped: {exc}")
            _settle(batch, [error] * len(batch))
            raise

    def _next(self, conn: sqlite3.Connection) -> tuple[object | None, bool]:
        """The next queued item and whether the writer had to wait for it (None: idle).

        Waiting, it wakes the committed waiters first; if their first append comes later than
        `_FILL_MAX`, they are not on their way back (`_woken` is cleared: nothing to fill).
        """
        try:
            return self._queue.get_nowait(), False
        except queue.Empty:
            pass
        self._tell()
        told = time.monotonic()
        try:
            item = self._queue.get(timeout=_IDLE_SECONDS if self._backlog else None)
        except queue.Empty:
            self._index(conn)
            return None, False
        if time.monotonic() - told > _FILL_MAX:
            self._woken = 0
        return item, True

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

    def _fill(self, batch: list[_Pending]) -> bool:
        """Top `batch` up with the appends of the waiters just woken (True: `_STOP` came).

        They are on their way (the loop runs them while this thread waits, without the GIL);
        one fsync for all of them beats a commit for the first few and another for the rest.
        Waits no longer than `_FILL_MAX`, nor past a gap of `_FILL_GAP` with nothing new.
        """
        want = self._woken
        size = sum(len(pending.records) for pending in batch)
        deadline = time.monotonic() + _FILL_MAX
        while len(batch) < want and size < self._max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                item = self._queue.get(timeout=min(left, _FILL_GAP))
            except queue.Empty:
                break
            if item is _STOP:
                return True
            assert isinstance(item, _Pending)
            batch.append(item)
            size += len(item.records)
        return False

    def _tell(self) -> None:
        """Wake the waiters of every batch committed so far (see module docstring)."""
        untold, self._untold = self._untold, []
        woken = 0
        for batch, outcomes in untold:
            woken += len(batch)
            _settle(batch, outcomes)
        if untold:
            self._woken = woken

    def _index(self, conn: sqlite3.Connection) -> None:
        self._tell()
        index_correlations(conn)
        self._backlog = 0

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending]) -> list[_Outcome]:
        """Store `batch`: where each submission's rows are, or the error for every waiter."""
        count = sum(len(pending.records) for pending in batch)
        try:
            rows = self._store(conn, batch, count)
        except Exception as exc:
            self._head = None  # read it again from the file
            error = AuditStoreError(f"audit append to {self._path} failed, nothing stored: {exc}")
            error.__cause__ = exc
            return [error] * len(batch)
        self._backlog += count
        outcomes: list[_Outcome] = []
        start = 0
        for pending in batch:
            outcomes.append((rows, start))
            start += len(pending.records) * _COLUMNS
        return outcomes

    def _store(self, conn: sqlite3.Connection, batch: list[_Pending], count: int) -> list[Any]:
        head = self._head
        if head is not None:
            rows, last = self._chain(batch, head)  # before the transaction: no lock held
        conn.execute("BEGIN IMMEDIATE")
        try:
            if head is None or conn.execute(_MOVE_HEAD, _moved(last, head)).rowcount != 1:
                self._tell()  # re-chaining is Python work: let the woken appenders run first
                head = read_head(conn, self._key)
                rows, last = self._chain(batch, head)
                if conn.execute(_MOVE_HEAD, _moved(last, head)).rowcount != 1:
                    raise AuditStoreError("the audit head checkpoint moved inside a transaction")
            for start in range(0, count, self._max_rows):
                self._insert(conn, rows, start, min(self._max_rows, count - start))
            conn.execute("COMMIT")
        except BaseException:
            self._head = None  # read it again from the file
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._head = last
        return rows

    def _chain(self, batch: list[_Pending], head: Head) -> tuple[list[Any], Head]:
        """The rows of parameters of `batch` chained on `head`, and the new head.

        Bodies and hashes go in as bytearrays: sqlite3 binds those directly, while every `bytes`
        parameter first goes through its adapter lookup, which costs four times as much and is
        spent holding the GIL the woken appenders are waiting for.
        """
        key = self._key
        sequence = head.sequence
        prev = bytearray(head.hash)
        rows: list[Any] = []
        for pending in batch:
            for record, body, ts in pending.records:
                sequence += 1
                digest = bytearray(chain_hash(prev, body, key))
                correlation = record.correlation_id
                cid = None if correlation is None else correlation.value
                rows += (sequence, ts, record.kind, cid, bytearray(body), prev, digest)
                prev = digest
        last = bytes(prev)
        mac = head_mac(sequence, last, head.purged_through, head.anchor_hash, key is not None, key)
        return rows, Head(sequence, last, head.purged_through, head.anchor_hash, mac)

    def _insert(self, conn: sqlite3.Connection, rows: list[Any], start: int, count: int) -> None:
        """Insert rows `start .. start + count - 1` (inside the batch's transaction)."""
        size = _statement_rows(count)
        sql = self._statements.get(size)
        if sql is None:
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * size)
            sql = self._statements[size] = _INSERT.format(rows=values)
        begin = start * _COLUMNS
        params = rows[begin : begin + count * _COLUMNS]
        if size > count:
            params += [0] * ((size - count) * _COLUMNS)
        self._tell()  # as late as can be: the loop runs the woken appenders during this write
        inserted = conn.execute(sql, params).rowcount
        if inserted != count:  # cannot happen: only the padding rows are filtered out
            raise AuditStoreError(f"audit insert stored {inserted} of {count} rows")

    def _fail_queued(self, error: AuditStoreError) -> None:
        pending: list[_Pending] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Pending):
                pending.append(item)
        _settle(pending, [error] * len(pending))


def _moved(last: Head, head: Head) -> tuple[int, bytes, bytes, int, bytes]:
    return (last.sequence, last.hash, last.mac, head.sequence, head.mac)


def _statement_rows(count: int) -> int:
    """Rows in the statement that stores `count`: rounded up to three significant bits.

    Padding (at most a quarter) keeps the distinct statements, each costly to prepare, few.
    """
    if count <= 8:
        return count
    shift = count.bit_length() - 3
    return -(-count >> shift) << shift


def _settle(batch: list[_Pending], outcomes: Sequence[_Outcome]) -> None:
    """Resolve futures on their own loops: one thread-safe call per loop, not per record."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Stored], _Outcome]]]
    by_loop = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.future.get_loop(), []).append((pending.future, outcome))
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[tuple[asyncio.Future[Stored], _Outcome]]) -> None:
    for future, outcome in items:
        if future.done():  # the waiter was cancelled; the record is stored all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
