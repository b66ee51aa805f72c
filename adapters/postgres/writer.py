"""Group commit for the PostgreSQL audit log: one writer task, one connection, one transaction
per batch.

Appends queue their encoded records and await a future. The writer task takes everything queued,
locks the chain-head row (`SELECT … FOR UPDATE` — this is what lets several processes share one
chain), checks its MAC (nothing is appended to a forged head checkpoint), inserts the batch, moves
the head and its MAC and commits; only then are the futures resolved.
`purge_before` runs on the same connection, between batches.

An append may carry a `Guard` (the scale-out mode, docs/scale-out.md): its `Fence` is checked
in the batch's transaction (the account's lease row share-locked, so a takeover waits for this
commit), and an append whose lease is gone gets `LeaseLost` and stores nothing; its `Decision`
is inserted into the decision table keyed (account, signal_id) in the same transaction, and a
signal decided before gets `AlreadyDecided` with the earlier outcome instead of new records.

The writer must never resolve a future before COMMIT returned, and never swallow a failure: every
waiter of a failed batch gets `AuditStoreError`. A broken connection is replaced before the next
batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
import psycopg
from psycopg import sql

from ordergate.adapters.postgres.guard import AlreadyDecided, Guard
from ordergate.adapters.postgres.schema import PURGE_SETTING, Names
from ordergate.adapters.serialization import AuditStoreError, chain_hash, head_mac
from ordergate.domain.audit import AuditEntry, AuditRecord

__all__ = ["Encoded", "PostgresGroupWriter"]

Encoded = tuple[AuditRecord, bytes, str]
"""A record with its canonical bytes and the `ts` string inside them."""
Connect = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]


@attrs.define
class _Pending:
    records: Sequence[Encoded]
    future: asyncio.Future[list[AuditEntry]]
    guard: Guard | None = None


class PostgresGroupWriter:
    """The writer of one process for one chain (see module docstring)."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        names: Names,
        key: bytes | None,
        reconnect: Connect | None = None,
    ) -> None:
        self._conn = conn
        self._names = names
        self._key = key
        self._reconnect = reconnect
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock_head = sql.SQL(
            "SELECT seq, hash, purged_through, anchor_hash, keyed, mac FROM {} FOR UPDATE"
        ).format(names.head)
        self._insert = sql.SQL(
            "INSERT INTO {} (seq, ts, kind, correlation_id, body, prev_hash, hash)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(names.log)
        self._move_head = sql.SQL("UPDATE {} SET seq = %s, hash = %s, mac = %s").format(names.head)

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    def submit(
        self, records: Sequence[Encoded], guard: Guard | None = None
    ) -> asyncio.Future[list[AuditEntry]]:
        """Queue encoded records; the future resolves once they are committed (or fails with
        `LeaseLost` / `AlreadyDecided` when `guard` refuses them; see module docstring)."""
        if self._stopping or self._task is None or self._task.done():
            raise AuditStoreError(f"audit log {self._where} is closed; nothing was appended")
        future: asyncio.Future[list[AuditEntry]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(records, future, guard))
        self._wake.set()
        return future

    async def purge(self, cutoff: datetime) -> int:
        """Delete the prefix of records older than `cutoff` (the caller checked retention)."""
        names = self._names
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction():
                    cur = conn.cursor()
                    await cur.execute(self._lock_head)
                    sequence, last, purged, _, _, _ = self._checked(await _one(cur))
                    await cur.execute(
                        sql.SQL("SELECT min(seq) FROM {} WHERE ts >= %s").format(names.log),
                        (cutoff,),
                    )
                    (first_young,) = await _one(cur)
                    if first_young is None:
                        await cur.execute(sql.SQL("SELECT max(seq) FROM {}").format(names.log))
                        (last,) = await _one(cur)
                        through = purged if last is None else last
                    else:
                        through = first_young - 1
                    if through <= purged:
                        return 0
                    await cur.execute(
                        sql.SQL("SELECT hash FROM {} WHERE seq = %s").format(names.log),
                        (through,),
                    )
                    (anchor,) = await _one(cur)
                    await cur.execute(
                        "SELECT set_config(%s, %s, true)", (PURGE_SETTING, str(through))
                    )
                    await cur.execute(
                        sql.SQL("DELETE FROM {} WHERE seq <= %s").format(names.log), (through,)
                    )
                    deleted = cur.rowcount
                    mac = head_mac(
                        sequence,
                        bytes(last),
                        through,
                        bytes(anchor),
                        self._key is not None,
                        self._key,
                    )
                    await cur.execute(
                        sql.SQL(
                            "UPDATE {} SET purged_through = %s, anchor_hash = %s, mac = %s"
                        ).format(names.head),
                        (through, anchor, mac),
                    )
                    return deleted
            except psycopg.Error as exc:
                raise AuditStoreError(f"audit purge on {self._where} failed: {exc}") from exc

    async def stop(self) -> None:
        """Commit what is queued, stop the task and close the connection."""
        self._stopping = True
        self._wake.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            await self._conn.close()

    def _checked(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """The locked head row, refused when its MAC does not match (a forged checkpoint)."""
        sequence, last, purged, anchor, keyed, mac = row
        key = self._key
        if bool(keyed) != (key is not None):
            raise AuditStoreError(
                f"audit log {self._where}: the log is {'' if keyed else 'not '}HMAC-keyed and "
                f"this writer has {'a' if key is not None else 'no'} key"
            )
        expected = head_mac(
            int(sequence), bytes(last), int(purged), bytes(anchor), bool(keyed), key
        )
        if expected != bytes(mac):
            raise AuditStoreError(
                f"the head checkpoint of {self._where} (through record {sequence}) fails its MAC: "
                "a wrong HMAC key, or the log was changed behind ordergate; nothing is appended"
            )
        return row

    @property
    def _where(self) -> str:
        return f"{self._names.schema}.{self._names.table}"

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(batch)
            if self._stopping:
                return

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if (self._conn.closed or self._conn.broken) and self._reconnect is not None:
            await self._conn.close()
            self._conn = await self._reconnect()
        return self._conn

    async def _commit(self, batch: list[_Pending]) -> None:
        key = self._key
        results: list[list[AuditEntry] | BaseException] = []
        try:
            async with self._lock:
                conn = await self._connection()
                async with conn.transaction():
                    cur = conn.cursor()
                    await cur.execute(self._lock_head)
                    sequence, prev, purged, anchor, _, _ = self._checked(await _one(cur))
                    prev = bytes(prev)
                    rows = []
                    fences: dict[tuple[str, str, int], bool] = {}
                    for pending in batch:
                        refused = await self._refused(cur, pending, fences, sequence + 1)
                        if refused is not None:
                            results.append(refused)
                            continue
                        entries: list[AuditEntry] = []
                        for record, body, _ts in pending.records:
                            sequence += 1
                            digest = chain_hash(prev, body, key)
                            cid = record.correlation_id
                            rows.append(
                                (
                                    sequence,
                                    record.ts,
                                    record.kind,
                                    None if cid is None else cid.value,
                                    body,
                                    prev,
                                    digest,
                                )
                            )
                            entries.append(AuditEntry(sequence, record, prev.hex(), digest.hex()))
                            prev = digest
                        results.append(entries)
                    if rows:
                        await cur.executemany(self._insert, rows)
                    mac = head_mac(sequence, prev, purged, bytes(anchor), key is not None, key)
                    await cur.execute(self._move_head, (sequence, prev, mac))
        except Exception as exc:
            error = AuditStoreError(f"audit append to {self._where} failed, nothing stored: {exc}")
            error.__cause__ = exc
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for pending, outcome in zip(batch, results, strict=True):
            if pending.future.done():  # a cancelled waiter: the record is stored all the same
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    async def _refused(
        self,
        cur: psycopg.AsyncCursor[Any],
        pending: _Pending,
        fences: dict[tuple[str, str, int], bool],
        first_sequence: int,
    ) -> BaseException | None:
        """Why `pending`'s guard refuses it in this transaction (None: store it)."""
        guard = pending.guard
        if guard is None:
            return None
        fence = guard.fence
        key = fence.params()
        if key not in fences:  # once per batch: the share lock holds until COMMIT
            await cur.execute(fence.statement(), key)
            fences[key] = await cur.fetchone() is not None
        if not fences[key]:
            return fence.lost()
        decision = guard.decision
        if decision is None:
            return None
        await cur.execute(decision.insert(), decision.params(first_sequence))
        if await cur.fetchone() is not None:
            return None
        await cur.execute(decision.earlier(), (decision.account, decision.signal_id))
        row = await _one(cur)
        return AlreadyDecided(decision.account, decision.signal_id, int(row[0]), str(row[1]))


async def _one(cur: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cur.fetchone()
    if row is None:
        raise AuditStoreError("the audit chain head row is missing (was the schema dropped?)")
    return tuple(row)
