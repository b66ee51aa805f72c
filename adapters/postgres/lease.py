"""Account leases with fencing tokens in PostgreSQL: at most one live holder per account.

One row per account in a lease table (`<schema>.<table>`): the holder's worker id, a fencing
token and an expiry, all decided on the server's clock (`now()`), never on a worker's. Acquiring
succeeds only when the lease is free, expired, or already the caller's own, and always raises the
token by one (a restarted worker with the same id fences out its predecessor process too); a
row is never deleted, so an account's tokens only ever increase. Renewing succeeds only while the
caller's token is the current one and unexpired; otherwise `LeaseLost`.

The lease is enforced where it matters, at the audit write: `Fence` is checked inside the audit
append's own transaction (`PostgresGroupWriter`), the lease row share-locked there, so a takeover
waits for an append that was already admitted, and an append after the takeover (or after the
expiry) is refused with `LeaseLost` and stores nothing. The gate never sends without a durable
decision, so a stale worker sends nothing either.

This module must never judge expiry on the local clock, never delete a lease row, and never build
SQL by interpolating names.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import attrs
import psycopg
from psycopg import sql

from ordergate.adapters.serialization import AuditStoreError
from ordergate.domain.errors import InvalidValue

__all__ = ["Fence", "Lease", "LeaseLost", "PostgresAccountLeases", "check_account"]

_ACCOUNT = re.compile(r"[A-Za-z0-9_-]{1,40}")


def check_account(account: str) -> str:
    """`account` when it is a usable account key (letters, digits, `_`, `-`; 1–40 characters)."""
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise InvalidValue(
            "account", account, "must be 1-40 characters of letters, digits, '_' or '-'"
        )
    return account


class LeaseLost(AuditStoreError):
    """The account's lease is no longer held with this token: nothing was stored or sent."""

    def __init__(self, account: str, holder: str, token: int, why: str) -> None:
        self.account = account
        self.holder = holder
        self.token = token
        super().__init__(
            f"lease of account {account!r} lost by worker {holder!r} (token {token}): {why}; "
            "nothing was stored or sent"
        )


@attrs.frozen
class Lease:
    """A lease as granted: `expires_at` is the server's time."""

    account: str
    holder: str
    token: int
    expires_at: datetime


@attrs.frozen
class Fence:
    """What an audit append for an account must find current in its own transaction."""

    table: sql.Composed
    account: str
    holder: str
    token: int

    def statement(self) -> sql.Composed:
        """Share-lock the lease row if (and only if) this token still holds it unexpired."""
        return sql.SQL(
            "SELECT token FROM {} WHERE account = %s AND holder = %s AND token = %s"
            " AND expires_at > clock_timestamp() FOR SHARE"
        ).format(self.table)

    def params(self) -> tuple[str, str, int]:
        """The statement's parameters."""
        return (self.account, self.holder, self.token)

    def lost(self) -> LeaseLost:
        """The error of an append this fence refused."""
        return LeaseLost(
            self.account, self.holder, self.token, "expired or taken over before the append"
        )


class PostgresAccountLeases:
    """Acquire, renew and release account leases for one worker (`holder`)."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        schema: str,
        table: str,
        holder: str,
        ttl: timedelta,
    ) -> None:
        self._conn = conn
        self.holder = check_account_holder(holder)
        if not timedelta(0) < ttl <= timedelta(hours=1):
            raise InvalidValue("lease ttl", ttl, "must be more than 0 s and at most 1 hour")
        self.ttl = ttl
        self.table = sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(table)])
        self._schema = schema

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        holder: str,
        ttl: timedelta,
        schema: str = "public",
        table: str = "ordergate_lease",
        password: str | None = None,
    ) -> PostgresAccountLeases:
        """Connect (autocommit) and create the lease table if missing."""
        extra: dict[str, Any] = {} if password is None else {"password": password}
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra)
        try:
            leases = cls(conn, schema, table, holder, ttl)
            await leases._create()
        except BaseException:
            await conn.close()
            raise
        return leases

    async def _create(self) -> None:
        async with self._conn.transaction():
            await self._conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table.as_string(None),)
            )
            await self._conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
            )
            await self._conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (account text PRIMARY KEY,"
                    " holder text NOT NULL, token bigint NOT NULL CHECK (token > 0),"
                    " expires_at timestamptz NOT NULL)"
                ).format(self.table)
            )

    async def acquire(self, account: str) -> Lease | None:
        """The lease of `account` with a new, higher token; None while another holds it."""
        check_account(account)
        row = await self._one(
            sql.SQL(
                "INSERT INTO {t} AS l (account, holder, token, expires_at)"
                " VALUES (%s, %s, 1, now() + %s)"
                " ON CONFLICT (account) DO UPDATE SET holder = EXCLUDED.holder,"
                " token = l.token + 1, expires_at = EXCLUDED.expires_at"
                " WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder"
                " RETURNING token, expires_at"
            ).format(t=self.table),
            (account, self.holder, self.ttl),
        )
        return None if row is None else Lease(account, self.holder, int(row[0]), row[1])

    async def take_over(self, account: str) -> Lease | None:
        """The lease of `account` only if another holder had it and let it expire (a standby's
        acquire: an account no worker ever held is left to the worker that prefers it)."""
        check_account(account)
        row = await self._one(
            sql.SQL(
                "UPDATE {} SET holder = %s, token = token + 1, expires_at = now() + %s"
                " WHERE account = %s AND expires_at <= now() RETURNING token, expires_at"
            ).format(self.table),
            (self.holder, self.ttl, account),
        )
        return None if row is None else Lease(account, self.holder, int(row[0]), row[1])

    async def renew(self, lease: Lease) -> Lease:
        """`lease` extended by the TTL from now; `LeaseLost` once expired or taken over."""
        row = await self._one(
            sql.SQL(
                "UPDATE {} SET expires_at = now() + %s WHERE account = %s AND holder = %s"
                " AND token = %s AND expires_at > now() RETURNING expires_at"
            ).format(self.table),
            (self.ttl, lease.account, lease.holder, lease.token),
        )
        if row is None:
            raise LeaseLost(lease.account, lease.holder, lease.token, "expired or taken over")
        return attrs.evolve(lease, expires_at=row[0])

    async def release(self, lease: Lease) -> bool:
        """Let the lease expire now (the row and its token stay); False if it was already lost."""
        row = await self._one(
            sql.SQL(
                "UPDATE {} SET expires_at = now() WHERE account = %s AND holder = %s"
                " AND token = %s AND expires_at > now() RETURNING token"
            ).format(self.table),
            (lease.account, lease.holder, lease.token),
        )
        return row is not None

    def fence(self, lease: Lease) -> Fence:
        """The fence an audit append made under `lease` must pass."""
        return Fence(self.table, lease.account, lease.holder, lease.token)

    async def close(self) -> None:
        """Close the connection (leases stay until they expire)."""
        await self._conn.close()

    async def _one(self, statement: sql.Composed, params: tuple[Any, ...]) -> Any:
        try:
            cur = await self._conn.execute(statement, params)
            return await cur.fetchone()
        except psycopg.Error as exc:
            raise AuditStoreError(f"lease table {self.table.as_string(None)}: {exc}") from exc


def check_account_holder(holder: str) -> str:
    """`holder` when it is a usable worker id (same alphabet as accounts)."""
    if not isinstance(holder, str) or not _ACCOUNT.fullmatch(holder):
        raise InvalidValue(
            "worker id", holder, "must be 1-40 characters of letters, digits, '_' or '-'"
        )
    return holder
