"""Order vocabulary: types, time in force, statuses and intents."""

from __future__ import annotations

import enum

__all__ = ["TERMINAL_STATUSES", "OrderIntent", "OrderStatus", "OrderType", "TimeInForce"]


class OrderType(enum.Enum):
    """Supported order types (SPEC §4.3)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP = "TRAILING_STOP"


class TimeInForce(enum.Enum):
    """How long an order works: the session, until cancelled, immediate-or-cancel, until a date."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    GTD = "GTD"


class OrderStatus(enum.Enum):
    """Order lifecycle states; see `ordergate.domain.orders.order.TRANSITIONS`."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        """True while the order may still fill (sent and not terminal)."""
        return self in _WORKING


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.DENIED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
    }
)
_WORKING = frozenset(
    {
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PENDING_UPDATE,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PARTIALLY_FILLED,
    }
)


class OrderIntent(enum.Enum):
    """Why an order exists. Closures and flattens are never blocked by new-risk limits."""

    OPEN = "OPEN"  # new risk (or any order from a strategy signal)
    CLOSE = "CLOSE"  # a closure with a ClosureReason (Strategy C, manual, strategy exit)
    FLATTEN = "FLATTEN"  # an operator's explicit flatten command
