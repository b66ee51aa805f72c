"""One `ordergate serve` per PostgreSQL audit log, across hosts: a session advisory lock.

The serve lock file (`ordergate.adapters.service_lock`) stops a second serve on the same host.
Two hosts sharing one PostgreSQL audit log share no file, so a serve whose audit is in
PostgreSQL also holds a session-level advisory lock keyed by the log's schema and table, on a
connection of its own kept open while it runs. A second serve anywhere fails at once with
`ServiceLocked`, naming the holder (pid, host, start time) that the holder wrote into its
connection's `application_name`. PostgreSQL releases the lock when that connection ends, a
SIGKILLed holder's included, so a restart is never blocked by a dead process.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from ordergate.adapters.service_lock import ServiceLocked

__all__ = ["PostgresServiceLock"]

_LOCK_CLASS = 0x6F67  # "og": the advisory-lock namespace of ordergate serve
_PREFIX = "og-serve"  # application_name holds 63 bytes: keep the holder's fields short
_KEY = "hashtext(%s)"


class PostgresServiceLock:
    """A held advisory lock; `release()` (or leaving the `with`) gives it back."""

    def __init__(self, conn: psycopg.Connection[Any], key: str, holder: dict[str, Any]) -> None:
        self.key = key
        self.holder = holder
        self._conn: psycopg.Connection[Any] | None = conn

    @classmethod
    def acquire(
        cls, dsn: str, *, schema: str, table: str, password: str | None = None
    ) -> PostgresServiceLock:
        """Take the lock of the log `schema.table` at `dsn` or raise `ServiceLocked`."""
        key = f"{schema}.{table}"
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        }
        # The host goes last: a long one is what application_name's 63 bytes cut short.
        name = f"{_PREFIX} pid={holder['pid']} started={holder['started']} host={holder['host']}"
        conn = psycopg.connect(
            dsn, password=password, autocommit=True, application_name=name[:63], connect_timeout=10
        )
        try:
            row = conn.execute(
                f"SELECT pg_try_advisory_lock({_LOCK_CLASS}, {_KEY})", (key,)
            ).fetchone()
            if row is None or not row[0]:
                other = _holder(conn, key)
                conn.close()
                raise ServiceLocked(Path(f"postgresql advisory lock {key}"), other)
        except psycopg.Error:
            conn.close()
            raise
        return cls(conn, key, holder)

    def release(self) -> None:
        """Give the lock back and close its connection (idempotent)."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            conn.execute(f"SELECT pg_advisory_unlock({_LOCK_CLASS}, {_KEY})", (self.key,))
        except psycopg.Error:
            pass  # the connection is closing anyway, which releases the lock
        finally:
            conn.close()

    def __enter__(self) -> PostgresServiceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(conn: psycopg.Connection[Any], key: str) -> dict[str, Any]:
    """What the holding session wrote about itself (pid, host, started), or {} if unknown."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {_LOCK_CLASS} "
        f"AND l.objid = ({_KEY})::oid AND l.objsubid = 2",
        (key,),
    ).fetchone()
    if row is None or not str(row[0]).startswith(_PREFIX):
        return {}
    fields = dict(part.split("=", 1) for part in str(row[0]).split()[1:] if "=" in part)
    return {k: fields[k] for k in ("pid", "host", "started") if k in fields}
