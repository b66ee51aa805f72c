"""Verification queries for the PostgreSQL audit log: stream the chain, compare the columns.

The chain is read through a server-side binary cursor in large slices and checked with the same
`verify_chain` the SQLite log uses. Must run inside the caller's (repeatable-read) transaction,
and must never modify anything.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

from ordergate.adapters.postgres.schema import Names
from ordergate.adapters.serialization import walk_chain
from ordergate.domain.audit import VerifyResult

__all__ = ["mismatched_columns", "verify_stream"]

_SLICE = 20_000


async def verify_stream(
    conn: psycopg.AsyncConnection[Any],
    names: Names,
    first: int,
    anchor: bytes,
    key: bytes | None,
) -> tuple[VerifyResult, bytes]:
    """Walk the chain from sequence `first` (linked to `anchor`) to its last record; the result
    and the hash the walk ended on."""
    checked = 0
    prev = anchor
    statement = sql.SQL("SELECT seq, prev_hash, hash, body FROM {} ORDER BY seq").format(names.log)
    async with conn.cursor(name="ordergate_audit_verify", binary=True) as cur:
        await cur.execute(statement)
        while rows := await cur.fetchmany(_SLICE):
            result, last = walk_chain(rows, first_sequence=first + checked, anchor=prev, key=key)
            if not result.ok:
                bad = VerifyResult(
                    ok=False,
                    checked=checked + result.checked,
                    first_bad_sequence=result.first_bad_sequence,
                    reason=result.reason,
                )
                return bad, last
            checked += result.checked
            prev = last
    return VerifyResult(ok=True, checked=checked), bytes(prev)


async def mismatched_columns(conn: psycopg.AsyncConnection[Any], names: Names) -> int | None:
    """The first sequence whose ts/kind/correlation_id columns disagree with its body."""
    body = sql.SQL("(convert_from(body, 'UTF8')::jsonb)")
    statement = sql.SQL(
        "SELECT min(seq) FROM {log} WHERE ({b} ->> 'kind') IS DISTINCT FROM kind"
        " OR ({b} ->> 'correlation_id') IS DISTINCT FROM correlation_id"
        " OR ({b} ->> 'ts')::timestamptz IS DISTINCT FROM ts"
    ).format(log=names.log, b=body)
    try:
        async with conn.transaction():  # a savepoint: a body that is not JSON aborts only it
            row = await (await conn.execute(statement)).fetchone()
    except psycopg.DataError:
        return await _first_unparseable(conn, names)
    return None if row is None or row[0] is None else int(row[0])


async def _first_unparseable(conn: psycopg.AsyncConnection[Any], names: Names) -> int | None:
    """Slow path, only when some stored body is not JSON at all: find the first such record."""
    statement = sql.SQL("SELECT seq, body FROM {} ORDER BY seq").format(names.log)
    async with conn.cursor(name="ordergate_audit_unparseable", binary=True) as cur:
        await cur.execute(statement)
        while rows := await cur.fetchmany(_SLICE):
            for seq, body in rows:
                try:
                    json.loads(body)
                except ValueError:
                    return int(seq)
    return None
