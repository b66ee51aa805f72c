"""Typed errors of the domain. Each message names the field or limit, the value, and what to do.

Every error derives from `OrdergateError`, so an embedding app can catch the library's errors as a
family; bad input derives from `ValueError` as well, so generic input handling keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccountMismatch",
    "BrokerError",
    "BrokerRejected",
    "BrokerTimeout",
    "DuplicateExecution",
    "InsufficientDataError",
    "InvalidOrderTransition",
    "InvalidValue",
    "OrdergateError",
    "PositionNotFound",
    "RiskLimitExceeded",
    "UnapprovedOrder",
    "UnknownOrder",
]


class OrdergateError(Exception):
    """Base class of every error ordergate raises on purpose."""


class InvalidValue(OrdergateError, ValueError):
    """A value handed to the domain breaks a rule of its field (type, sign, range, time zone).

    `field` and `value` are kept for programmatic use; the message states both and the rule.
    """

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {rule}; got {_shown(value)}")


_SHOWN_CHARS = 120
"""The longest repr of a bad value a message quotes in full (hostile input can be megabytes)."""


def _shown(value: Any) -> str:
    """`repr(value)` and its type, the repr cut to `_SHOWN_CHARS` with its full length noted."""
    text = repr(value)
    if len(text) > _SHOWN_CHARS:
        size = f"{len(value)} characters" if isinstance(value, str | bytes) else "long"
        text = f"{text[: _SHOWN_CHARS - 20]}... ({size})"
    return f"{text} ({type(value).__name__})"


class InvalidOrderTransition(OrdergateError):
    """An event does not apply to an order in its current status (see the transition table)."""

    def __init__(self, client_order_id: str, status: str, event: str) -> None:
        self.client_order_id = client_order_id
        self.status = status
        self.event = event
        super().__init__(
            f"order {client_order_id}: event {event} is not allowed in status {status}"
        )


class DuplicateExecution(OrdergateError):
    """An execution id arrived again with different content (same id, other qty/price/side)."""


class UnknownOrder(OrdergateError, KeyError):
    """No order with this client or broker order id is known."""


class PositionNotFound(OrdergateError, KeyError):
    """No open position for this instrument or position id."""


class InsufficientDataError(OrdergateError, ValueError):
    """An indicator needs more bars than it was given."""

    def __init__(self, indicator: str, needed: int, got: int) -> None:
        self.indicator = indicator
        self.needed = needed
        self.got = got
        super().__init__(f"{indicator} needs at least {needed} values; got {got}")


class RiskLimitExceeded(OrdergateError):
    """Raised by callers that choose to turn a denying `RiskDecision` into an exception."""

    def __init__(self, reasons: str) -> None:
        super().__init__(f"risk gate denied the order: {reasons}")


class BrokerError(OrdergateError):
    """A broker adapter failed to do what was asked (connection, protocol, unknown order)."""


class AccountMismatch(BrokerError):
    """The broker session disagrees with the configured mode or account (a paper configuration
    on a gateway logged into a live account, a live one on a paper account, an account the
    gateway does not manage). Raised before anything is sent; retrying cannot fix it."""


class BrokerRejected(BrokerError):
    """The broker refused an order (IB error 201 and friends). Never raised for risk denials."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message if code is None else f"[{code}] {message}")


class BrokerTimeout(BrokerError, TimeoutError):
    """A broker or market-data call did not complete within its `timeout`."""

    def __init__(self, operation: str, timeout: float) -> None:
        self.operation = operation
        self.timeout = timeout
        super().__init__(
            f"{operation} did not complete within timeout={timeout}s; "
            "the call was abandoned (check the connection or raise the timeout)"
        )


class UnapprovedOrder(BrokerRejected):
    """A broker adapter refused an `ApprovedOrder` the risk gate did not issue (hand-built,
    copied, altered, already used or withdrawn): nothing was sent."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        self.client_order_id = client_order_id
        self.reason = reason
        super().__init__(
            f"order {client_order_id} was refused: {reason}; only the risk gate's approvals "
            "can be sent (submit through OrderGate); nothing was sent"
        )
