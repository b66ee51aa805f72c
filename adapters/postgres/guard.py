"""What a guarded audit append must find in its own transaction: a live lease, a new signal id.

`Guard` travels with an append to `PostgresGroupWriter`: its `Fence` (the account's lease and
token, `lease.py`) is checked first; its optional `Decision` is then inserted into the decision
table, whose primary key (account, signal_id) makes a signal's decision unique however often it is
delivered. A signal id found there already gets `AlreadyDecided`, carrying the outcome and the
audit sequence of the first decision, and nothing new is stored.

This module must never build SQL by interpolating names.
"""

from __future__ import annotations

from typing import Any

import attrs
from psycopg import sql

from ordergate.adapters.postgres.lease import Fence
from ordergate.domain.errors import OrdergateError

__all__ = ["AlreadyDecided", "Decision", "Guard", "decision_table_statement"]


class AlreadyDecided(OrdergateError):
    """The signal was decided before: its earlier outcome (nothing new was stored or sent)."""

    def __init__(self, account: str, signal_id: str, sequence: int, outcome: str) -> None:
        self.account = account
        self.signal_id = signal_id
        self.sequence = sequence
        self.outcome = outcome
        super().__init__(
            f"signal {signal_id!r} of account {account!r} was decided at audit record "
            f"{sequence}: {outcome}"
        )


def decision_table_statement(table: sql.Composed) -> sql.Composed:
    """Idempotent DDL of the decision table (one row per decided signal id and account)."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (account text NOT NULL, signal_id text NOT NULL,"
        " seq bigint NOT NULL, outcome text NOT NULL, PRIMARY KEY (account, signal_id))"
    ).format(table)


@attrs.frozen
class Decision:
    """The decision of one signal: stored once per (account, signal_id)."""

    table: sql.Composed
    account: str
    signal_id: str
    outcome: str

    def insert(self) -> sql.Composed:
        """Insert the decision unless the signal has one; RETURNING a row only when new."""
        return sql.SQL(
            "INSERT INTO {} (account, signal_id, seq, outcome) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (account, signal_id) DO NOTHING RETURNING seq"
        ).format(self.table)

    def params(self, sequence: int) -> tuple[Any, ...]:
        """The insert's parameters; `sequence` is the audit record the decision starts at."""
        return (self.account, self.signal_id, sequence, self.outcome)

    def earlier(self) -> sql.Composed:
        """The earlier decision of this signal."""
        return sql.SQL("SELECT seq, outcome FROM {} WHERE account = %s AND signal_id = %s").format(
            self.table
        )


@attrs.frozen
class Guard:
    """A fence, and optionally a decision, for one append."""

    fence: Fence
    decision: Decision | None = None
