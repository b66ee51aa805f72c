"""The control API's request and response bodies (Pydantic models: they give OpenAPI its
schemas). Money and quantities are decimal strings, times ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditEntryOut",
    "BreakerOut",
    "CancelOut",
    "ErrorOut",
    "FlattenOut",
    "OperatorRequest",
    "OrderOut",
    "OrderResultOut",
    "OrderViewOut",
    "PnLOut",
    "PositionOut",
    "ReconcileOut",
    "StatusOut",
    "WriteOut",
]

OPERATOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperatorRequest(BaseModel):
    """The body of every write: who asks (kept in the audit log), and why."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    operator: str = Field(
        pattern=OPERATOR_PATTERN,
        description="Who asks: 1 to 64 letters, digits, '.', '_', '@' or '-'.",
        examples=["alice"],
    )
    reason: str = Field(
        default="",
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Why (at most 256 characters, no control characters).",
        examples=["end of day"],
    )


class ErrorOut(_Out):
    """Every 4xx and 5xx answer: what went wrong, and the field at fault when there is one."""

    error: str = Field(description="A short code: unauthorized, invalid_request, not_found, ...")
    message: str
    field: str | None = Field(default=None, description="The field at fault (e.g. operator).")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="Every problem found, for validation errors."
    )


class BreakerOut(_Out):
    name: str
    state: str = Field(description="CLOSED, OPEN or HALF_OPEN.")
    opened_at: datetime | None = None
    reason: str = ""


class TradingOut(_Out):
    state: str = Field(description="ACTIVE, REDUCING or HALTED.")
    reason: str
    changed_at: datetime | None
    kill_switch: bool


class ConnectionOut(_Out):
    broker_kind: str
    broker_connected: bool
    link_lost: bool


class CountsOut(_Out):
    open_positions: int
    working_orders: int
    orders_tracked: int


class StatusOut(_Out):
    """`GET /status`: what the service is and how it stands."""

    service: str = Field(default="ordergate", description="Always 'ordergate'.")
    version: str
    mode: str = Field(description="dry_run, paper or live.")
    operator_id: str
    account_id: str | None
    trading: TradingOut
    breakers: list[BreakerOut]
    connection: ConnectionOut
    counts: CountsOut
    started_at: datetime | None
    now: datetime = Field(description="The gate's clock (the simulated time on the sim).")
    uptime_seconds: float = Field(description="Seconds since the API started (wall clock).")


class PositionOut(_Out):
    instrument: str
    quantity: Decimal
    avg_cost: Decimal | None
    mark: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None


class OrderOut(_Out):
    client_order_id: str
    broker_order_id: str | None
    instrument: str
    side: str
    order_type: str
    status: str
    quantity: Decimal
    filled_qty: Decimal
    leaves_qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    avg_px: Decimal | None
    intent: str | None = None
    closure_reason: str | None = None


class OrderViewOut(_Out):
    """A working order as the broker reports it."""

    client_order_id: str
    broker_order_id: str | None
    instrument: str
    side: str
    order_type: str
    status: str
    quantity: Decimal
    filled_qty: Decimal
    leaves_qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None


class PnLOut(_Out):
    """`GET /pnl`: the account as the gate has built it from the broker's fills."""

    starting_cash: Decimal
    cash: Decimal
    equity: Decimal
    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    session_pnl: Decimal
    commissions: Decimal
    gross_notional: Decimal
    drawdown_from_week_high: Decimal


class AuditEntryOut(_Out):
    """One audit record (a fill, a decision) as stored."""

    sequence: int
    kind: str
    ts: datetime
    correlation_id: str | None
    payload: dict[str, Any]


class OrderResultOut(_Out):
    client_order_id: str
    status: str
    reason: str
    broker_order_id: str | None = None
    fill_quantity: Decimal | None = None
    fill_price: Decimal | None = None


class WriteOut(_Out):
    """What every write answers: what was asked, by whom, and how it ended."""

    endpoint: str
    operator: str
    outcome: str = Field(description="ok, or refused / failed (then `message` says why).")
    message: str = ""
    trading_state: str
    kill_switch: bool


class FlattenOut(WriteOut):
    """`POST /flatten` and `POST /kill`: the orders cancelled and the closures sent."""

    cancelled: list[OrderViewOut]
    still_working: list[OrderViewOut]
    closures: list[OrderResultOut]
    persisted: bool | None = Field(default=None, description="kill: the switch was persisted.")


class CancelOut(WriteOut):
    result: OrderResultOut


class DiffOut(_Out):
    kind: str
    key: str
    ours: str
    broker: str


class ReconcileOut(_Out):
    """`GET /reconcile` (dry run) and `POST /reconcile` (recovers missed fills)."""

    dry_run: bool
    clean: bool
    diffs: list[DiffOut]
    recovered: int
    endpoint: str = "reconcile"
    operator: str | None = None
    outcome: str = "ok"
