"""Lifecycle events of SPEC §4.9 beyond single orders: positions, PnL, risk, breakers, trading
state, connectivity, reconciliation and recovered fills.

Every event is a frozen attrs class with `version`, `correlation_id`, `ts_event` and `ts_init`;
the serialisation (a cattrs tagged union) lives at the edge, in the application layer.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.risk.decision import BreakerState, RiskDecision, TradingState
from ordergate.domain.settlement import (
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
)
from ordergate.domain.values import CorrelationId, InstrumentId, utc_field

__all__ = [
    "BreakerReset",
    "BreakerTripped",
    "CommissionReport",
    "ConnectionState",
    "ConnectionStateChanged",
    "ExecutionFill",
    "FillRecovered",
    "LifecycleEvent",
    "OptionAssigned",
    "OptionExercised",
    "OptionExpired",
    "OptionSettlement",
    "OrderEventKind",
    "OrderLifecycleEvent",
    "PnLSnapshot",
    "PositionSnapshot",
    "ReconciliationDiff",
    "RiskDecisionMade",
    "TradingStateChanged",
    "UnapprovedOrderRefused",
]


@attrs.frozen
class PositionSnapshot:
    """A position as seen at `ts_event` (from the broker or rebuilt from fills)."""

    instrument_id: InstrumentId
    quantity: Decimal
    avg_price: Decimal | None
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class PnLSnapshot:
    """Account PnL at `ts_event`."""

    realized: Decimal
    unrealized: Decimal
    commissions: Decimal
    equity: Decimal
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class RiskDecisionMade:
    """The gate decided; recorded before anything is sent."""

    decision: RiskDecision
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class BreakerTripped:
    """A circuit breaker moved to OPEN (or back to OPEN from HALF_OPEN)."""

    breaker: str
    reason: str
    previous: BreakerState
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class BreakerReset:
    """A circuit breaker moved to HALF_OPEN or CLOSED."""

    breaker: str
    state: BreakerState
    previous: BreakerState
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class TradingStateChanged:
    """ACTIVE / REDUCING / HALTED changed (manually or by a rule). `code` carries the broker's
    code when its connectivity caused the change (IB 1100, 2110, 1101, 1102; None otherwise)."""

    state: TradingState
    previous: TradingState
    reason: str
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1
    code: int | None = None


class ConnectionState(enum.Enum):
    """Broker connectivity as the adapter sees it."""

    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTING = "RECONNECTING"
    DEGRADED = "DEGRADED"  # socket up, broker says its own link is down (IB 1100/2110)
    REFUSED = "REFUSED"  # the session disagrees with the mode or account: hung up, sends nothing


@attrs.frozen
class ConnectionStateChanged:
    """The broker connection changed state; `code` carries the broker's code if any (1100…)."""

    state: ConnectionState
    previous: ConnectionState
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    detail: str = ""
    code: int | None = None
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class ReconciliationDiff:
    """One difference between our view and the broker's (the broker wins)."""

    kind: str  # "position" | "open_order" | "execution"
    key: str
    ours: str
    broker: str
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1
    cause: str = ""
    """The likely cause, as far as the reconciler can tell (e.g. a missed fill)."""


@attrs.frozen
class FillRecovered:
    """A fill that happened while we were disconnected, found by resync; emitted exactly once."""

    fill: ExecutionFill
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class UnapprovedOrderRefused:
    """A broker adapter refused an order that did not carry a live approval of the risk gate
    (someone tried to reach `Broker.submit` around the gate). Reported on the broker's event
    stream so the running gate audits the attempt; it is recorded, never published."""

    client_order_id: str
    reason: str
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


LifecycleEvent = (
    OrderLifecycleEvent
    | ExecutionFill
    | CommissionReport
    | PositionSnapshot
    | PnLSnapshot
    | RiskDecisionMade
    | BreakerTripped
    | BreakerReset
    | TradingStateChanged
    | ConnectionStateChanged
    | ReconciliationDiff
    | FillRecovered
    | OptionExercised
    | OptionAssigned
    | OptionExpired
)
