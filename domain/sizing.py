"""Position sizing: fixed-fraction and fractional Kelly, capped by the risk limits.

Both sizers are pure functions returning a Decimal quantity, rounded *down* to the instrument's
size increment and capped by the per-order quantity and notional limits (a sized order is never
one the gate would refuse for its size). Inputs that give nothing (no edge, no stop distance, no
equity) give zero; inputs outside their domain raise `InvalidValue` naming the field.
"""

from __future__ import annotations

from decimal import Decimal

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument
from ordergate.domain.risk.limits import RiskLimits, Rule
from ordergate.domain.values import ZERO, check_decimal

__all__ = [
    "cap_quantity",
    "fixed_fraction_size",
    "kelly_fraction",
    "kelly_size",
    "round_down",
]

_ONE = Decimal(1)


def _unit_interval(field: str, value: Decimal) -> Decimal:
    check_decimal(field, value, non_negative=True)
    if value > 1:
        raise InvalidValue(field, value, "must be between 0 and 1")
    return value


def round_down(quantity: Decimal, increment: Decimal) -> Decimal:
    """The largest multiple of `increment` not above `quantity` (zero for a negative quantity)."""
    check_decimal("increment", increment, positive=True)
    if quantity <= 0:
        return ZERO
    return (quantity // increment) * increment


def cap_quantity(
    quantity: Decimal, price: Decimal, instrument: Instrument, limits: RiskLimits | None
) -> Decimal:
    """`quantity` capped by the enabled max-order-quantity and max-order-notional limits of
    `instrument` at `price`, rounded down to the size increment."""
    check_decimal("price", price, positive=True)
    if limits is not None:
        iid = instrument.id
        if limits.enabled(Rule.ORDER_QUANTITY):
            quantity = min(quantity, limits.order_quantity_limit(iid))
        if limits.enabled(Rule.ORDER_NOTIONAL):
            per_unit = price * instrument.multiplier
            quantity = min(quantity, limits.order_notional_limit(iid) / per_unit)
    return round_down(quantity, instrument.size_increment)


def fixed_fraction_size(
    *,
    equity: Decimal,
    risk_fraction: Decimal,
    entry_price: Decimal,
    stop_price: Decimal,
    instrument: Instrument,
    limits: RiskLimits | None = None,
) -> Decimal:
    """Risk `risk_fraction` of `equity` between entry and stop.

    quantity = equity × risk_fraction / (|entry − stop| × multiplier), rounded down and capped.
    Zero when equity is not positive or the stop equals the entry.
    """
    check_decimal("equity", equity)
    _unit_interval("risk_fraction", risk_fraction)
    check_decimal("entry_price", entry_price, positive=True)
    check_decimal("stop_price", stop_price, positive=True)
    distance = abs(entry_price - stop_price)
    if equity <= 0 or distance == 0:
        return ZERO
    quantity = equity * risk_fraction / (distance * instrument.multiplier)
    return cap_quantity(quantity, entry_price, instrument, limits)


def kelly_fraction(
    win_probability: Decimal,
    payoff_ratio: Decimal,
    *,
    fraction: Decimal = Decimal("0.5"),
    cap: Decimal = Decimal("0.20"),
) -> Decimal:
    """The share of equity to commit: `fraction` × Kelly, at most `cap`, never negative.

    Kelly f* = p − (1 − p) / b for win probability p and payoff ratio b (average win / loss).
    """
    _unit_interval("win_probability", win_probability)
    check_decimal("payoff_ratio", payoff_ratio, positive=True)
    _unit_interval("fraction", fraction)
    _unit_interval("cap", cap)
    full = win_probability - (_ONE - win_probability) / payoff_ratio
    if full <= 0:
        return ZERO
    return min(full * fraction, cap)


def kelly_size(
    *,
    equity: Decimal,
    win_probability: Decimal,
    payoff_ratio: Decimal,
    price: Decimal,
    instrument: Instrument,
    fraction: Decimal = Decimal("0.5"),
    cap: Decimal = Decimal("0.20"),
    limits: RiskLimits | None = None,
) -> Decimal:
    """Commit `kelly_fraction(...)` of `equity` at `price`: quantity = equity × f / (price ×
    multiplier), rounded down and capped. Zero without an edge or without equity."""
    check_decimal("equity", equity)
    check_decimal("price", price, positive=True)
    share = kelly_fraction(win_probability, payoff_ratio, fraction=fraction, cap=cap)
    if equity <= 0 or share == 0:
        return ZERO
    quantity = equity * share / (price * instrument.multiplier)
    return cap_quantity(quantity, price, instrument, limits)
