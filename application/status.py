"""`GateStatus`: what an operator sees of a running gate, read in one go (nothing changes).

`OrderGate.status()` builds it from the desk (trading state, kill switch, breakers), the broker
link and the portfolio. The control API's `GET /status` and the CLI's `ordergate status` show it.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ordergate.domain.risk.decision import BreakerState, TradingState

__all__ = ["BreakerStatus", "GateStatus"]


@attrs.frozen
class BreakerStatus:
    """One circuit breaker: its state, since when it is open and why (empty when CLOSED)."""

    name: str
    state: BreakerState
    opened_at: datetime | None = None
    reason: str = ""


@attrs.frozen
class GateStatus:
    """The gate as it stands: trading state, breakers, broker link, counts."""

    mode: str
    operator_id: str
    trading_state: TradingState
    trading_reason: str
    trading_changed_at: datetime | None
    kill_switch: bool
    breakers: tuple[BreakerStatus, ...]
    broker_connected: bool
    link_lost: bool
    """True after the broker link was lost, until it is back and the resync check passed."""
    started_at: datetime | None
    now: datetime
    open_positions: int
    working_orders: int
    orders_tracked: int
