"""`OrderResult`: what every order use case returns (seed 001 §5.4, with risk vs broker split).

`DENIED` means the risk gate said no and nothing was sent; `REJECTED` means the broker said no.
`SIMULATED` is dry-run mode (full gate, nothing sent). `FAILED` means the order could not be
sent (audit failure, unknown contract, connection); `TIMEOUT` means the broker did not answer in
time — the order may exist at the broker and reconciliation will tell. `UNCHANGED` answers a
modification of an order that is final, or has a change or cancel pending: nothing was sent.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.order import Order
from ordergate.domain.orders.request import ClosureReason
from ordergate.domain.risk.decision import RiskDecision
from ordergate.domain.values import BrokerOrderId, ClientOrderId, CorrelationId

__all__ = ["ExecutionMode", "OrderResult", "OrderResultStatus"]


class ExecutionMode(enum.Enum):
    """dry_run: gate only, nothing sent. paper and live: orders go to the broker."""

    DRY_RUN = "dry_run"
    PAPER = "paper"
    LIVE = "live"


class OrderResultStatus(enum.Enum):
    """Outcome of an order use case."""

    SUBMITTED = "SUBMITTED"  # the broker has it and it is working
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    DENIED = "DENIED"  # risk said no; never sent
    REJECTED = "REJECTED"  # the broker said no
    SIMULATED = "SIMULATED"  # dry run: approved, not sent
    FAILED = "FAILED"  # could not be sent (audit failure, qualification, connection)
    TIMEOUT = "TIMEOUT"  # no answer in time; reconcile to learn the outcome
    UNCHANGED = "UNCHANGED"  # modify: the order is final or busy; nothing decided, nothing sent

    @classmethod
    def of_order(cls, status: OrderStatus) -> OrderResultStatus:
        """Map an order's status to the result status a caller sees."""
        return _FROM_ORDER.get(status, cls.SUBMITTED)


_FROM_ORDER = {
    OrderStatus.FILLED: OrderResultStatus.FILLED,
    OrderStatus.PARTIALLY_FILLED: OrderResultStatus.PARTIAL,
    OrderStatus.CANCELED: OrderResultStatus.CANCELED,
    OrderStatus.EXPIRED: OrderResultStatus.CANCELED,
    OrderStatus.REJECTED: OrderResultStatus.REJECTED,
    OrderStatus.DENIED: OrderResultStatus.DENIED,
}


@attrs.frozen
class OrderResult:
    """The result of submitting, modifying, cancelling or closing one order."""

    client_order_id: ClientOrderId
    status: OrderResultStatus
    ts: datetime
    mode: ExecutionMode
    correlation_id: CorrelationId | None = None
    broker_order_id: BrokerOrderId | None = None
    fill_price: Decimal | None = None
    fill_quantity: Decimal | None = None
    reason: str = ""
    decision: RiskDecision | None = None
    closure_reason: ClosureReason | None = None

    @classmethod
    def from_order(
        cls,
        order: Order,
        ts: datetime,
        mode: ExecutionMode,
        *,
        decision: RiskDecision | None = None,
        reason: str = "",
        status: OrderResultStatus | None = None,
    ) -> OrderResult:
        """Describe `order` as it stands now."""
        return cls(
            client_order_id=order.client_order_id,
            status=status or OrderResultStatus.of_order(order.status),
            ts=ts,
            mode=mode,
            correlation_id=order.request.correlation_id,
            broker_order_id=order.broker_order_id,
            fill_price=order.avg_px,
            fill_quantity=order.filled_qty if order.filled_qty else None,
            reason=reason,
            decision=decision,
            closure_reason=order.request.closure_reason,
        )

    @property
    def ok(self) -> bool:
        """True when the order went where it was meant to go (sent, filled or simulated)."""
        return self.status in (
            OrderResultStatus.SUBMITTED,
            OrderResultStatus.PARTIAL,
            OrderResultStatus.FILLED,
            OrderResultStatus.SIMULATED,
        )
