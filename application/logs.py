"""The gate's log lines: one per order status change and one per state change (trading state,
breakers, broker link), logged once the change is durable in the audit log. One line per signal
decision is `service.py`'s (`ordergate.signals`). Each line carries its fields as `extra`
attributes too, for a JSON formatter (`adapters/cli/logs.py`)."""

from __future__ import annotations

import logging

from ordergate.domain.events import (
    BreakerReset,
    BreakerTripped,
    ConnectionStateChanged,
    TradingStateChanged,
)
from ordergate.domain.orders.events import OrderLifecycleEvent

__all__ = ["log_order_event", "log_state_change"]

ORDERS = logging.getLogger("ordergate.orders")
STATE = logging.getLogger("ordergate.state")


def log_order_event(event: OrderLifecycleEvent) -> None:
    """`order CID KIND [reason]` at INFO."""
    level = logging.INFO
    if not ORDERS.isEnabledFor(level):
        return
    cid = event.client_order_id.value
    ORDERS.log(
        level,
        "order %s %s%s",
        cid,
        event.kind.value,
        f" ({event.reason})" if event.reason else "",
        extra={"client_order_id": cid, "status": event.kind.value, "reason": event.reason},
    )


def log_state_change(
    event: TradingStateChanged | BreakerTripped | BreakerReset | ConnectionStateChanged,
) -> None:
    """`trading|breaker|connection ... PREVIOUS -> NEW (reason)` at INFO."""
    if not STATE.isEnabledFor(logging.INFO):
        return
    if isinstance(event, TradingStateChanged):
        what, new, old, why = "trading", event.state.value, event.previous.value, event.reason
    elif isinstance(event, BreakerTripped):
        what, new, old, why = f"breaker {event.breaker}", "OPEN", event.previous.value, event.reason
    elif isinstance(event, BreakerReset):
        what, new, old, why = (
            f"breaker {event.breaker}",
            event.state.value,
            event.previous.value,
            "",
        )
    else:
        what, new, old, why = "connection", event.state.value, event.previous.value, event.detail
    STATE.info(
        "%s %s -> %s%s",
        what,
        old,
        new,
        f" ({why})" if why else "",
        extra={"change": what, "state": new, "previous": old, "reason": why},
    )
