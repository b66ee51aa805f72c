"""The simulated broker's own funds check (IB error 201 "insufficient funds"), before acceptance.

An order needs buying power for the part of it that opens or extends a position (a sell that
closes a long needs none): that quantity × its reference price (limit, else stop, else the last
trade) × the multiplier, divided by the leverage. Working parent orders reserve funds the same
way; bracket children never do (they close what their parent opens). With no reference price at
all the check is skipped, as there is nothing to value the order at.

`FundsTracker` keeps what the working parent orders hold, per instrument and side, as the orders
change (each `SimOrder` reports writes to its status, quantities and prices), so the check costs
the same at 5,000 working orders as at 10. While the position does not cover a side's orders
(flat, or on the same side) their cost is linear in their leaves and is read from the totals;
a side that the position partly covers is valued order by order, as `order_cost` defines it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from ordergate.adapters.sim.bars import from_units
from ordergate.adapters.sim.ledger import SimLedger
from ordergate.adapters.sim.orders import TRAIL, SimOrder
from ordergate.domain.values import ZERO

__all__ = ["FundsTracker", "funds_problem", "order_cost", "reserved_funds"]


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


# What one working parent order holds: (instrument key, is a buy, leaves as a quantity, its
# reference price — limit, else stop — or None when it is valued at the last trade).
_Share = tuple[str, bool, Decimal, Decimal | None]


class _Side:
    """The working parent orders of one instrument on one side."""

    __slots__ = ("instrument", "instrument_id", "orders", "priced", "unpriced")

    def __init__(self, order: SimOrder) -> None:
        self.instrument = order.instrument
        self.instrument_id = order.instrument_id
        self.orders: dict[object, SimOrder] = {}
        self.priced = ZERO  # Σ leaves × reference price
        self.unpriced = ZERO  # Σ leaves of the orders valued at the last trade


def _share(order: SimOrder) -> _Share | None:
    if not order.is_working or order.request.parent_id is not None:
        return None
    reference = order.limit if order.kind != TRAIL else None
    if reference is None:
        reference = order.stop
    price = None if reference is None else from_units(reference)
    return order.key, order.buy, order.quantity_decimal(order.leaves), price


class FundsTracker:
    """Buying power held by the working parent orders, kept as they change."""

    __slots__ = ("_counted", "_sides")

    def __init__(self) -> None:
        self._counted: dict[object, _Share] = {}
        self._sides: dict[tuple[str, bool], _Side] = {}

    def refresh(self, order: SimOrder) -> None:
        """Count what `order` holds now instead of what it held before."""
        cid = order.client_order_id
        share = _share(order)
        counted = self._counted.get(cid)
        if counted == share:
            return
        if counted is not None:
            side = self._sides[counted[0], counted[1]]
            del side.orders[cid]
            if counted[3] is None:
                side.unpriced -= counted[2]
            else:
                side.priced -= counted[2] * counted[3]
            if not side.orders:
                del self._sides[counted[0], counted[1]]
        if share is None:
            self._counted.pop(cid, None)
            return
        self._counted[cid] = share
        target = self._sides.get((share[0], share[1]))
        if target is None:
            target = self._sides[share[0], share[1]] = _Side(order)
        target.orders[cid] = order
        if share[3] is None:
            target.unpriced += share[2]
        else:
            target.priced += share[2] * share[3]

    def reserved(self, ledger: SimLedger, last: Mapping[str, int]) -> Decimal:
        """`reserved_funds` of the tracked working orders, from the totals."""
        total = ZERO
        for (key, buy), side in self._sides.items():
            position = ledger.position_units(side.instrument_id)
            covering = max(-position, ZERO) if buy else max(position, ZERO)
            if covering > 0:
                total += sum((order_cost(o, ledger, last) for o in side.orders.values()), ZERO)
                continue
            value = side.priced
            if side.unpriced:
                price = last.get(key)
                if price is not None:
                    value += side.unpriced * from_units(price)
            total += value * side.instrument.multiplier
        return total


def funds_problem(
    order: SimOrder,
    reserved: Decimal,
    ledger: SimLedger,
    last: Mapping[str, int],
) -> str:
    """IB-style rejection text when the account cannot afford `order` on top of the `reserved`
    buying power of the working orders, else ""."""
    cost = order_cost(order, ledger, last)
    if cost == 0:
        return ""
    needed = cost / ledger.leverage
    available = ledger.available_funds(last, reserved)
    if needed <= available:
        return ""
    return (
        f"[201] Order rejected - reason: insufficient funds: {order.client_order_id} needs "
        f"{needed:.2f} of buying power and {max(available, ZERO):.2f} is available"
    )
