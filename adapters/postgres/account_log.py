"""`PostgresAccountAuditLog`: one account's audit in the scale-out mode (docs/scale-out.md).

Each account has a hash chain of its own (`account_chain_table`: the table `<table>_<account>`
with its own head row), so workers deciding different accounts never wait on one head lock, and
each chain verifies by itself. Every append is fenced by the account's lease (`lease.py`): it is
stored only if the worker's token is still the current, unexpired one, checked in the append's
own transaction; otherwise `LeaseLost` and nothing is stored. `decide` stores a signal's decision
records together with a row of the decision table (primary key account, signal_id), so a signal is
decided once however often it is delivered: a repeat gets the first outcome back.

The single-chain `PostgresAuditLog` stays the default of `ordergate run` and `serve`; this class
wraps one per account and adds nothing to that chain's format, so `verify` is the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import psycopg
from psycopg import sql

from ordergate.adapters.postgres.audit_log import PostgresAuditLog, redact_dsn
from ordergate.adapters.postgres.guard import (
    AlreadyDecided,
    Decision,
    Guard,
    decision_table_statement,
)
from ordergate.adapters.postgres.lease import Fence, check_account
from ordergate.adapters.serialization import AuditStoreError
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId

__all__ = ["Decided", "PostgresAccountAuditLog", "account_chain_table"]

_LONGEST_SUFFIX = len("_head_no_truncate")
_IDENTIFIER_LIMIT = 63  # PostgreSQL's NAMEDATALEN - 1: longer names would be truncated silently


def account_chain_table(table: str, account: str) -> str:
    """The table of `account`'s chain; refused when PostgreSQL would truncate a derived name."""
    name = f"{table}_{check_account(account)}"
    if len(name) + _LONGEST_SUFFIX > _IDENTIFIER_LIMIT:
        raise InvalidValue(
            "account chain table",
            name,
            f"must be at most {_IDENTIFIER_LIMIT - _LONGEST_SUFFIX} characters "
            "(PostgreSQL truncates longer identifiers)",
        )
    return name


@attrs.frozen
class Decided:
    """The outcome of `decide`: `first` when this call stored it, else the earlier one."""

    first: bool
    sequence: int
    outcome: str
    entries: tuple[AuditEntry, ...] = ()


class PostgresAccountAuditLog:
    """One account's fenced chain (see module docstring); an `AuditLog`."""

    def __init__(self, log: PostgresAuditLog, account: str, fence: Fence, decisions: sql.Composed):
        self._log = log
        self.account = account
        self._fence = fence
        self._decisions = decisions

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        fence: Fence,
        schema: str = "public",
        table: str = "ordergate_audit",
        decision_table: str = "ordergate_decision",
        password: str | None = None,
        hmac_key: bytes | None = None,
    ) -> PostgresAccountAuditLog:
        """Open (creating if missing) the chain of `fence.account` and the decision table."""
        chain = account_chain_table(table, fence.account)
        decisions = sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(decision_table)])
        extra: dict[str, Any] = {} if password is None else {"password": password}
        log = await PostgresAuditLog.open(
            dsn, schema=schema, table=chain, password=password, hmac_key=hmac_key
        )
        try:
            conn: Any
            async with (
                await psycopg.AsyncConnection.connect(dsn, autocommit=True, **extra) as conn,
                conn.transaction(),
            ):
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (decisions.as_string(None),)
                )
                await conn.execute(decision_table_statement(decisions))
        except psycopg.Error as exc:
            await log.close()
            raise AuditStoreError(
                f"cannot create the decision table at {redact_dsn(dsn)}: {exc}"
            ) from exc
        except BaseException:
            await log.close()
            raise
        return cls(log, fence.account, fence, decisions)

    @property
    def fence(self) -> Fence:
        """The fence every append must pass."""
        return self._fence

    def refence(self, fence: Fence) -> None:
        """Append under a newly acquired lease of the same account from now on."""
        if fence.account != self.account:
            raise InvalidValue("fence account", fence.account, f"must be {self.account!r}")
        self._fence = fence

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Store `record` durably if the lease still holds (`LeaseLost` otherwise)."""
        return (await self._log.append_guarded([record], Guard(self._fence)))[0]

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Store `records` in one transaction if the lease still holds (`LeaseLost` otherwise)."""
        if not records:
            return []
        return await self._log.append_guarded(records, Guard(self._fence))

    async def decide(self, signal_id: str, records: Sequence[AuditRecord], outcome: str) -> Decided:
        """Store a signal's decision records once per signal id, fenced by the lease.

        A signal decided before (by this or any earlier worker) stores nothing and returns the
        first outcome; a lost lease raises `LeaseLost` and stores nothing.
        """
        if not records:
            raise InvalidValue("decision records", records, "must hold at least one record")
        if not signal_id:
            raise InvalidValue("signal_id", signal_id, "must not be empty")
        decision = Decision(self._decisions, self.account, signal_id, outcome)
        try:
            entries = await self._log.append_guarded(records, Guard(self._fence, decision))
        except AlreadyDecided as earlier:
            return Decided(False, earlier.sequence, earlier.outcome)
        return Decided(True, entries[0].sequence, outcome, tuple(entries))

    async def query(
        self,
        *,
        correlation_id: CorrelationId | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """The account chain's entries matching every filter (reading is not fenced)."""
        return await self._log.query(
            correlation_id=correlation_id, kind=kind, since=since, until=until, limit=limit
        )

    async def verify(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Verify this account's chain against its own head checkpoint."""
        return await self._log.verify(anchor)

    async def purge_before(self, cutoff: datetime) -> int:
        """Retention purge of this account's chain (same rules as `PostgresAuditLog`)."""
        return await self._log.purge_before(cutoff)

    async def close(self) -> None:
        """Close the chain."""
        await self._log.close()
