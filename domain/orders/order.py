"""The `Order` aggregate: state changes only by `apply(event)` through a transition table.

Invariants held by construction: terminal states are final; `filled_qty` never exceeds
`quantity`; `filled_qty + leaves_qty == quantity`; a fill whose execution id was applied before
changes nothing; a commission attaches to its fill by execution id whether it comes before or
after the fill.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol

import attrs

from ordergate.domain.errors import DuplicateExecution, InvalidOrderTransition, InvalidValue
from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.values import ZERO, BrokerOrderId, ClientOrderId, ExecutionId

__all__ = ["FILLABLE", "TRANSITIONS", "Fill", "Order", "OrderEvent", "OrderTracker"]

OrderEvent = OrderLifecycleEvent | ExecutionFill | CommissionReport

S = OrderStatus
K = OrderEventKind

# (status, event kind) -> next status. `None` as the target means "back to the status the order
# had before it entered PENDING_UPDATE / PENDING_CANCEL". Pairs not listed are invalid.
TRANSITIONS: Final[dict[tuple[OrderStatus, OrderEventKind], OrderStatus | None]] = {
    (S.INITIALIZED, K.DENIED): S.DENIED,
    (S.INITIALIZED, K.SUBMITTED): S.SUBMITTED,
    (S.SUBMITTED, K.ACCEPTED): S.ACCEPTED,
    (S.SUBMITTED, K.REJECTED): S.REJECTED,
    (S.SUBMITTED, K.CANCELED): S.CANCELED,
    (S.SUBMITTED, K.EXPIRED): S.EXPIRED,
    (S.SUBMITTED, K.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.SUBMITTED, K.PENDING_UPDATE): S.PENDING_UPDATE,  # modify right after submit
    (S.SUBMITTED, K.UPDATED): S.SUBMITTED,  # the change confirmed before the ack
    (S.ACCEPTED, K.ACCEPTED): S.ACCEPTED,
    (S.ACCEPTED, K.REJECTED): S.REJECTED,  # IB: 201 on a live order
    (S.ACCEPTED, K.PENDING_UPDATE): S.PENDING_UPDATE,
    (S.ACCEPTED, K.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.ACCEPTED, K.UPDATED): S.ACCEPTED,  # broker-initiated change (e.g. trailing stop moved)
    (S.ACCEPTED, K.CANCELED): S.CANCELED,
    (S.ACCEPTED, K.EXPIRED): S.EXPIRED,
    (S.PARTIALLY_FILLED, K.ACCEPTED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, K.PENDING_UPDATE): S.PENDING_UPDATE,
    (S.PARTIALLY_FILLED, K.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, K.UPDATED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, K.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, K.EXPIRED): S.EXPIRED,
    (S.PENDING_UPDATE, K.UPDATED): None,
    (S.PENDING_UPDATE, K.MODIFY_REJECTED): None,
    (S.PENDING_UPDATE, K.ACCEPTED): None,
    (S.PENDING_UPDATE, K.PENDING_CANCEL): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, K.CANCELED): S.CANCELED,
    (S.PENDING_UPDATE, K.EXPIRED): S.EXPIRED,
    (S.PENDING_UPDATE, K.REJECTED): S.REJECTED,
    (S.PENDING_CANCEL, K.CANCELED): S.CANCELED,
    (S.PENDING_CANCEL, K.CANCEL_REJECTED): None,
    (S.PENDING_CANCEL, K.EXPIRED): S.EXPIRED,
    (S.PENDING_CANCEL, K.ACCEPTED): S.PENDING_CANCEL,  # a late ack does not undo the cancel
    (S.PENDING_CANCEL, K.UPDATED): S.PENDING_CANCEL,
}

# Statuses in which an execution may be applied. CANCELED and EXPIRED accept fills too: the broker
# is the source of truth, and a fill that raced a cancel happened; the status stays terminal.
FILLABLE: Final = frozenset(
    {
        S.SUBMITTED,
        S.ACCEPTED,
        S.PARTIALLY_FILLED,
        S.PENDING_UPDATE,
        S.PENDING_CANCEL,
        S.CANCELED,
        S.EXPIRED,
    }
)
_PENDING: Final = frozenset({S.PENDING_UPDATE, S.PENDING_CANCEL})


@attrs.frozen
class Fill:
    """An applied execution as the order keeps it. `commission` is None until reported."""

    execution_id: ExecutionId
    quantity: Decimal
    price: Decimal
    ts_event: datetime
    commission: Decimal | None = None


class OrderTracker(Protocol):
    """Told after every `Order.apply` (whatever it did) so it can keep totals up to date."""

    def refresh(self, order: Order) -> None:
        """Recount what `order` contributes now."""


class Order:
    """One order's state, changed only by `apply`. Build it with `Order.from_request`."""

    __slots__ = (
        "_filled_value",
        "_fills",
        "_pending_commissions",
        "_previous",
        "_tracker",
        "broker_order_id",
        "filled_qty",
        "limit_price",
        "quantity",
        "request",
        "status",
        "stop_price",
        "trail_amount",
        "trail_percent",
        "ts_last",
    )

    def __init__(self, request: OrderRequest) -> None:
        self.request: Final = request
        self.status = OrderStatus.INITIALIZED
        self.quantity = request.quantity
        self.limit_price = request.limit_price
        self.stop_price = request.stop_price
        self.trail_amount = request.trail_amount
        self.trail_percent = request.trail_percent
        self.filled_qty = ZERO
        self._filled_value = ZERO
        self.broker_order_id: BrokerOrderId | None = None
        self.ts_last: datetime | None = None
        self._fills: dict[ExecutionId, Fill] = {}
        self._pending_commissions: dict[ExecutionId, Decimal] = {}
        self._previous: OrderStatus | None = None
        self._tracker: OrderTracker | None = None

    @classmethod
    def from_request(cls, request: OrderRequest) -> Order:
        """A new order in status INITIALIZED."""
        return cls(request)

    # -- read model -------------------------------------------------------------------------
    @property
    def client_order_id(self) -> ClientOrderId:
        return self.request.client_order_id

    @property
    def avg_px(self) -> Decimal | None:
        """Average fill price; one division of exact sums, so it is independent of fill order."""
        return None if self.filled_qty == 0 else self._filled_value / self.filled_qty

    @property
    def leaves_qty(self) -> Decimal:
        """Quantity not filled: `filled_qty + leaves_qty == quantity` always holds."""
        return self.quantity - self.filled_qty

    @property
    def working_qty(self) -> Decimal:
        """Quantity that may still fill: `leaves_qty` while working, zero once terminal."""
        return self.leaves_qty if self.status.is_working else ZERO

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def fills(self) -> tuple[Fill, ...]:
        return tuple(self._fills.values())

    @property
    def commission(self) -> Decimal:
        """Commission reported so far for this order's fills."""
        return sum((f.commission for f in self._fills.values() if f.commission), ZERO)

    def has_execution(self, execution_id: ExecutionId) -> bool:
        return execution_id in self._fills

    # -- behaviour --------------------------------------------------------------------------
    def track(self, tracker: OrderTracker | None) -> None:
        """Report every later change to `tracker` (one at a time; None stops reporting)."""
        self._tracker = tracker
        if tracker is not None:
            tracker.refresh(self)

    def apply(self, event: OrderEvent) -> bool:
        """Apply one event. Returns True if the order changed, False for an idempotent repeat.

        Raises `InvalidOrderTransition` for an event the table does not allow, `InvalidValue` for
        an overfill or a bad modification, `DuplicateExecution` for a reused execution id with
        different content. The tracker, if any, is told afterwards in every case.
        """
        if isinstance(event, CommissionReport):
            # A commission changes no status, quantity or price: nothing a tracker counts.
            return self._apply_commission(event)
        try:
            if isinstance(event, ExecutionFill):
                return self._apply_fill(event)
            return self._apply_lifecycle(event)
        finally:
            if self._tracker is not None:
                self._tracker.refresh(self)

    def _reject(self, event: str) -> InvalidOrderTransition:
        return InvalidOrderTransition(str(self.client_order_id), self.status.value, event)

    def _apply_lifecycle(self, event: OrderLifecycleEvent) -> bool:
        key = (self.status, event.kind)
        if key not in TRANSITIONS:
            if self.status.is_terminal and event.kind in (K.CANCELED, K.EXPIRED, K.ACCEPTED):
                return False  # brokers repeat final statuses; a repeat changes nothing
            raise self._reject(event.kind.value)
        target = TRANSITIONS[key]
        if event.kind is K.UPDATED:
            self._apply_update(event)
        if event.kind is K.ACCEPTED and self.status in _PENDING and self._previous is S.SUBMITTED:
            # The broker acknowledged the order while a change or cancel of it is pending:
            # the order is accepted, the request still pending.
            self._previous = S.ACCEPTED
            target = self.status
        if target is None:
            target = self._previous or S.ACCEPTED
        if target in _PENDING and self.status not in _PENDING:
            self._previous = self.status
        elif target not in _PENDING:
            self._previous = None
        if event.broker_order_id is not None:
            self.broker_order_id = event.broker_order_id
        if target is not S.FILLED and self.filled_qty == self.quantity and not target.is_terminal:
            target = S.FILLED
        self.status = target
        self.ts_last = event.ts_event
        return True

    def _apply_update(self, event: OrderLifecycleEvent) -> None:
        if event.quantity is not None:
            if event.quantity < self.filled_qty:
                raise InvalidValue(
                    f"Order[{self.client_order_id}].quantity",
                    event.quantity,
                    f"cannot go below the filled quantity {self.filled_qty}",
                )
            self.quantity = event.quantity
        if event.limit_price is not None:
            self.limit_price = event.limit_price
        if event.stop_price is not None:
            self.stop_price = event.stop_price
        if event.trail_amount is not None:
            self.trail_amount, self.trail_percent = event.trail_amount, None
        if event.trail_percent is not None:
            self.trail_amount, self.trail_percent = None, event.trail_percent

    def _apply_fill(self, fill: ExecutionFill) -> bool:
        if fill.client_order_id != self.client_order_id:
            raise InvalidValue(
                f"Order[{self.client_order_id}].fill.client_order_id",
                fill.client_order_id,
                "belongs to another order",
            )
        known = self._fills.get(fill.execution_id)
        if known is not None:
            if known.quantity != fill.quantity or known.price != fill.price:
                raise DuplicateExecution(
                    f"execution {fill.execution_id} was applied as {known.quantity}@{known.price}"
                    f" and arrived again as {fill.quantity}@{fill.price}"
                )
            if known.commission is None and fill.commission is not None:
                self._fills[fill.execution_id] = attrs.evolve(known, commission=fill.commission)
                return True
            return False
        if self.status not in FILLABLE:
            raise self._reject("FILL")
        new_filled = self.filled_qty + fill.quantity
        if new_filled > self.quantity:
            raise InvalidValue(
                f"Order[{self.client_order_id}].fill.quantity",
                fill.quantity,
                f"would fill {new_filled} of an order for {self.quantity} (overfill)",
            )
        commission = fill.commission
        if commission is None:
            commission = self._pending_commissions.pop(fill.execution_id, None)
        self._fills[fill.execution_id] = Fill(
            fill.execution_id, fill.quantity, fill.price, fill.ts_event, commission
        )
        self.filled_qty = new_filled
        self._filled_value += fill.price * fill.quantity
        if fill.broker_order_id is not None:
            self.broker_order_id = fill.broker_order_id
        self.ts_last = fill.ts_event
        if self.status.is_terminal:
            return True  # a fill that raced a cancel: recorded, status stays final
        if new_filled == self.quantity:
            self.status = S.FILLED
            self._previous = None
        elif self.status in _PENDING:
            self._previous = S.PARTIALLY_FILLED
        else:
            self.status = S.PARTIALLY_FILLED
        return True

    def _apply_commission(self, report: CommissionReport) -> bool:
        known = self._fills.get(report.execution_id)
        if known is None:
            if self._pending_commissions.get(report.execution_id) == report.commission:
                return False
            self._pending_commissions[report.execution_id] = report.commission
            return True
        if known.commission == report.commission:
            return False
        self._fills[report.execution_id] = attrs.evolve(known, commission=report.commission)
        return True

    def __repr__(self) -> str:
        return (
            f"Order({self.client_order_id}, {self.request.side.value} {self.quantity} "
            f"{self.request.instrument.id} {self.request.order_type.value}, {self.status.value}, "
            f"filled={self.filled_qty})"
        )
