"""The simulated broker's own funds check (IB error 201 "insufficient funds"), before acceptance.

An order needs buying power for the part of it that opens or extends a position (a sell that
closes a long needs none): that quantity × its reference price (limit, else stop, else the last
trade) × the multiplier, divided by the leverage. Working parent orders reserve funds the same
way; bracket children never do (they close what their parent opens). With no reference price at
all the check is skipped, as there is nothing to value the order at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from ordergate.adapters.sim.bars import from_units
from ordergate.adapters.sim.ledger import SimLedger
from ordergate.adapters.sim.orders import TRAIL, SimOrder
from ordergate.domain.values import ZERO

__all__ = ["funds_problem", "order_cost", "reserved_funds"]


def order_cost(order: SimOrder, ledger: SimLedger, last: Mapping[str, int]) -> Decimal:
    """Gross value of the part of `order`'s leaves that opens or extends a position."""
    position = ledger.position_units(order.instrument_id)
    covering = max(-position, ZERO) if order.buy else max(position, ZERO)
    opening = order.quantity_decimal(order.leaves) - covering
    if opening <= 0:
        return ZERO
    reference = order.limit if order.kind != TRAIL else None
    if reference is None:
        reference = order.stop
    if reference is None:
        reference = last.get(order.key)
    if reference is None:
        return ZERO
    return opening * from_units(reference) * order.instrument.multiplier


def reserved_funds(
    orders: Iterable[SimOrder], ledger: SimLedger, last: Mapping[str, int]
) -> Decimal:
    """Buying power held by working parent orders."""
    working = [o for o in orders if o.is_working and o.request.parent_id is None]
    if not working:
        return ZERO
    return sum((order_cost(o, ledger, last) for o in working), ZERO)


def funds_problem(
    order: SimOrder,
    open_orders: Iterable[SimOrder],
    ledger: SimLedger,
    last: Mapping[str, int],
) -> str:
    """IB-style rejection text when the account cannot afford `order`, else ""."""
    cost = order_cost(order, ledger, last)
    if cost == 0:
        return ""
    needed = cost / ledger.leverage
    reserved = reserved_funds(open_orders, ledger, last)
    available = ledger.available_funds(last, reserved)
    if needed <= available:
        return ""
    return (
        f"[201] Order rejected - reason: insufficient funds: {order.client_order_id} needs "
        f"{needed:.2f} of buying power and {max(available, ZERO):.2f} is available"
    )
