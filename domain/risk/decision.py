"""Risk decisions: what the gate says about one order request, and why.

A decision is data: approved, or denied with machine-readable reason codes and the inputs that
decided it. The application audits it, then acts on it; the domain never sends anything.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.values import ClientOrderId, CorrelationId, utc_field

__all__ = ["ApprovedOrder", "BreakerState", "Denial", "RiskCode", "RiskDecision", "TradingState"]


class RiskCode(enum.Enum):
    """Why a rule denied an order. Values are stable: they are stored in the audit log."""

    MAX_ORDER_QUANTITY = "MAX_ORDER_QUANTITY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_POSITION = "MAX_POSITION"
    MAX_GROSS_NOTIONAL = "MAX_GROSS_NOTIONAL"
    MAX_LEVERAGE = "MAX_LEVERAGE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    MAX_SUBMIT_RATE = "MAX_SUBMIT_RATE"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    DRAWDOWN_GOVERNOR = "DRAWDOWN_GOVERNOR"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    PATTERN_DAY_TRADER = "PATTERN_DAY_TRADER"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    PRICE_COLLAR = "PRICE_COLLAR"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    STALE_DATA = "STALE_DATA"
    NO_MARKET_DATA = "NO_MARKET_DATA"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING = "TRADING_REDUCING"
    BREAKER_OPEN = "BREAKER_OPEN"
    OVER_CLOSE = "OVER_CLOSE"
    INVALID_PRICE_INCREMENT = "INVALID_PRICE_INCREMENT"


class TradingState(enum.Enum):
    """ACTIVE: everything the rules allow. REDUCING: only exposure-reducing orders.
    HALTED: only Strategy C closures and explicit flattens."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class BreakerState(enum.Enum):
    """Circuit breaker states: CLOSED (normal) → OPEN (tripped) → HALF_OPEN (probing) → CLOSED."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@attrs.frozen
class Denial:
    """One reason an order was denied: the code, a human sentence, the limit and the value."""

    code: RiskCode
    message: str
    limit: str = ""
    value: str = ""


@attrs.frozen
class RiskDecision:
    """The gate's verdict on one request. `inputs` records what the rules looked at."""

    client_order_id: ClientOrderId
    approved: bool
    ts: datetime = utc_field()
    denials: tuple[Denial, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()
    correlation_id: CorrelationId | None = None
    reducing: bool = False

    def __attrs_post_init__(self) -> None:
        if self.approved == bool(self.denials):
            raise ValueError("a RiskDecision is approved exactly when it has no denials")

    @property
    def codes(self) -> tuple[RiskCode, ...]:
        return tuple(d.code for d in self.denials)

    def explain(self) -> str:
        """One line for logs and CLI output."""
        if self.approved:
            return "approved"
        return "; ".join(f"{d.code.value}: {d.message}" for d in self.denials)


@attrs.frozen
class ApprovedOrder:
    """An order request paired with the approving decision the gate made for it.

    The `Broker` port accepts only these. Construction checks the decision approves this very
    request, so a denied or mismatched decision cannot be smuggled to a broker.
    """

    request: OrderRequest
    decision: RiskDecision

    def __attrs_post_init__(self) -> None:
        if not self.decision.approved:
            raise ValueError(
                f"order {self.request.client_order_id} was denied: {self.decision.explain()}"
            )
        if self.decision.client_order_id != self.request.client_order_id:
            raise ValueError(
                f"decision for {self.decision.client_order_id} cannot approve "
                f"{self.request.client_order_id}"
            )
