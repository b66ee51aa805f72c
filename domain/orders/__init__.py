"""Orders: requests, the order aggregate and its transition table, fills, brackets, OCA."""

from ordergate.domain.orders.enums import (
    TERMINAL_STATUSES,
    OrderIntent,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.orders.order import TRANSITIONS, Fill, Order, OrderEvent
from ordergate.domain.orders.request import (
    BracketRequest,
    ClosureReason,
    OcaGroup,
    OcaType,
    OrderRequest,
)

__all__ = [
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "BracketRequest",
    "ClosureReason",
    "CommissionReport",
    "ExecutionFill",
    "Fill",
    "OcaGroup",
    "OcaType",
    "Order",
    "OrderEvent",
    "OrderEventKind",
    "OrderIntent",
    "OrderLifecycleEvent",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "TimeInForce",
]
