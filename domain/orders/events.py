"""Order lifecycle events: what brokers report and the order aggregate applies.

These are the versioned, serialisable facts of SPEC §4.9 for orders: `OrderLifecycleEvent` (one
class, `kind` says which transition), `ExecutionFill` and `CommissionReport`. Every event carries
`ts_event` (when it happened at the source) and `ts_init` (when we created the object).
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    Side,
    decimal_field,
    opt_decimal_field,
    utc_field,
)

__all__ = ["CommissionReport", "ExecutionFill", "OrderEventKind", "OrderLifecycleEvent"]


class OrderEventKind(enum.Enum):
    """Which lifecycle transition an `OrderLifecycleEvent` reports."""

    DENIED = "DENIED"  # risk said no; never sent
    SUBMITTED = "SUBMITTED"  # handed to the broker
    ACCEPTED = "ACCEPTED"  # the broker acknowledged it (working)
    REJECTED = "REJECTED"  # the broker said no
    PENDING_UPDATE = "PENDING_UPDATE"  # a modification was requested
    UPDATED = "UPDATED"  # the broker confirmed a modification
    MODIFY_REJECTED = "MODIFY_REJECTED"  # the broker refused a modification
    PENDING_CANCEL = "PENDING_CANCEL"  # a cancel was requested
    CANCEL_REJECTED = "CANCEL_REJECTED"  # the broker refused a cancel (e.g. already filled)
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


@attrs.frozen
class OrderLifecycleEvent:
    """A status change of one order. For UPDATED, the confirmed quantity/prices are carried."""

    client_order_id: ClientOrderId
    kind: OrderEventKind
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    broker_order_id: BrokerOrderId | None = None
    reason: str = ""
    quantity: Decimal | None = opt_decimal_field(positive=True)
    limit_price: Decimal | None = opt_decimal_field(positive=True)
    stop_price: Decimal | None = opt_decimal_field(positive=True)
    correlation_id: CorrelationId | None = None
    version: int = 1
    trail_amount: Decimal | None = opt_decimal_field(positive=True)
    trail_percent: Decimal | None = opt_decimal_field(positive=True)


@attrs.frozen
class ExecutionFill:
    """One execution. Applied once per `execution_id`; `commission` may arrive later."""

    client_order_id: ClientOrderId
    execution_id: ExecutionId
    instrument_id: InstrumentId
    side: Side
    quantity: Decimal = decimal_field(positive=True)
    price: Decimal = decimal_field(positive=True)
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    commission: Decimal | None = opt_decimal_field(non_negative=True)
    broker_order_id: BrokerOrderId | None = None
    correlation_id: CorrelationId | None = None
    version: int = 1

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity * self.side.sign

    def same_execution(self, other: ExecutionFill) -> bool:
        """True when `other` reports the same execution (ignoring commission and timestamps)."""
        return (
            self.execution_id == other.execution_id
            and self.client_order_id == other.client_order_id
            and self.side is other.side
            and self.quantity == other.quantity
            and self.price == other.price
        )


@attrs.frozen
class CommissionReport:
    """The commission of one execution, matched to its fill by `execution_id` whenever it comes."""

    execution_id: ExecutionId
    commission: Decimal = decimal_field(non_negative=True)
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    currency: str = "USD"
    correlation_id: CorrelationId | None = None
    version: int = 1
