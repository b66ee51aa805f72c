"""`OrderBook`: the simulated broker's orders and their lifecycle (accept, modify, cancel,
expire, brackets and OCA groups), producing the domain's lifecycle events.

The book decides *whether* an order may work; the engine (`engine.py`) decides when it executes.
Events are appended to `out` in the order a broker sends them. Nothing here reads a clock: every
method takes the time it acts at.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ordergate.adapters.sim.bars import from_units, to_units
from ordergate.adapters.sim.orders import TRAIL, SimOrder
from ordergate.adapters.sim.risk_checks import FundsTracker
from ordergate.adapters.sim.sessions import session_close_after
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.orders.enums import OrderStatus, OrderType, TimeInForce
from ordergate.domain.orders.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.orders.request import OcaType
from ordergate.domain.values import ClientOrderId, InstrumentId

__all__ = ["OrderBook"]

_K = OrderEventKind
_S = OrderStatus
_BrokerEvent = object  # the engine's event union is defined in engine.py; the book only appends


class OrderBook:
    """Orders by client id, working orders by instrument (in priority order), OCA groups."""

    def __init__(self, calendar: TradingCalendar) -> None:
        self.calendar = calendar
        self.orders: dict[ClientOrderId, SimOrder] = {}
        self.open: dict[ClientOrderId, SimOrder] = {}  # submitted or working
        self.by_instrument: dict[str, list[SimOrder]] = {}  # keyed by instrument id value
        self.oca_groups: dict[str, list[SimOrder]] = {}
        self.oca_executed: dict[str, int] = {}  # units executed so far by each group's members
        self.next_expiry: datetime | None = None
        self.out: list[_BrokerEvent] = []
        self.funds = FundsTracker()  # buying power held by the working parent orders

    # -- lookups -----------------------------------------------------------------------------
    def get_open(self, client_order_id: ClientOrderId, action: str) -> SimOrder:
        """The open order, or `BrokerRejected` (IB 135 unknown, 10148/104 finished)."""
        order = self.open.get(client_order_id)
        if order is not None:
            return order
        known = self.orders.get(client_order_id)
        if known is None:
            raise BrokerRejected(f"cannot {action} {client_order_id}: no such order", 135)
        raise BrokerRejected(
            f"cannot {action} {client_order_id}: it is {known.status.value} (finished)",
            10148 if action == "cancel" else 104,
        )

    def working(self, instrument_id: InstrumentId) -> list[SimOrder] | None:
        """The working orders of one instrument in priority order, if any."""
        return self.by_instrument.get(instrument_id.value)

    # -- lifecycle ---------------------------------------------------------------------------
    def emit(self, order: SimOrder, kind: OrderEventKind, ts: datetime, reason: str = "") -> None:
        """Append a lifecycle event of `kind` for `order` at `ts`."""
        self.out.append(
            OrderLifecycleEvent(
                order.client_order_id,
                kind,
                ts,
                ts,
                order.broker_order_id,
                reason,
                correlation_id=order.request.correlation_id,
            )
        )

    def emit_updated(
        self,
        order: SimOrder,
        ts: datetime,
        reason: str = "",
        trail: tuple[Decimal | None, Decimal | None] = (None, None),
    ) -> None:
        """UPDATED with the order's confirmed quantity and prices (and a changed trail)."""
        limit = None if order.kind == TRAIL or order.limit is None else from_units(order.limit)
        self.out.append(
            OrderLifecycleEvent(
                order.client_order_id,
                _K.UPDATED,
                ts,
                ts,
                order.broker_order_id,
                reason,
                quantity=order.quantity_decimal(order.qty),
                limit_price=limit,
                stop_price=None if order.stop is None else from_units(order.stop),
                correlation_id=order.request.correlation_id,
                trail_amount=trail[0],
                trail_percent=trail[1],
            )
        )
        order.reported_stop = order.stop

    def register(self, order: SimOrder) -> None:
        """Record a newly submitted order (status SUBMITTED); from now on it reports what funds
        it holds to `funds`."""
        self.orders[order.client_order_id] = order
        self.open[order.client_order_id] = order
        order.funds = self.funds
        self.funds.refresh(order)

    def reject(self, order: SimOrder, reason: str, ts: datetime) -> None:
        """The broker refuses the order: REJECTED with IB-style `reason`."""
        order.status = _S.REJECTED
        self.open.pop(order.client_order_id, None)
        self.emit(order, _K.REJECTED, ts, reason)

    def accept(self, order: SimOrder, ts: datetime) -> None:
        """Make an order working: index it, link it to its parent and OCA group, set expiry."""
        order.status = _S.ACCEPTED
        order.expire_at = self._expiry(order, ts)
        if order.expire_at is not None and (
            self.next_expiry is None or order.expire_at < self.next_expiry
        ):
            self.next_expiry = order.expire_at
        self.by_instrument.setdefault(order.key, []).append(order)
        parent_id = order.request.parent_id
        parent = None if parent_id is None else self.orders.get(parent_id)
        if parent is not None:
            order.parent = parent
            parent.children.append(order)
        order.active = parent is None or parent.filled > 0
        if order.oca is not None:
            self.oca_groups.setdefault(order.oca, []).append(order)
        self.emit(order, _K.ACCEPTED, ts)
        executed = self.oca_executed.get(order.oca or "")
        if executed:
            self._join_executed_group(order, executed, ts)

    def _join_executed_group(self, order: SimOrder, executed: int, ts: datetime) -> None:
        """An order joining an OCA group whose members already executed is cancelled (cancel
        type) or reduced by what they executed (reduce types), as if it had been there."""
        if order.oca_type is OcaType.CANCEL_WITH_BLOCK or order.qty <= executed:
            self.end(order, _K.CANCELED, ts, f"OCA group {order.oca} already executed")
            return
        order.qty -= executed
        self.emit_updated(order, ts, f"OCA group {order.oca} reduced it")

    def _expiry(self, order: SimOrder, ts: datetime) -> datetime | None:
        request = order.request
        tif = request.time_in_force
        expiry: datetime | None = None
        if tif is TimeInForce.DAY:
            expiry = session_close_after(ts, self.calendar)
        elif tif is TimeInForce.GTD:
            expiry = request.expire_at
        instrument = order.instrument
        if instrument.is_option:
            last_trade = instrument.last_trade_at  # type: ignore[union-attr]
            expiry = last_trade if expiry is None else min(expiry, last_trade)
        return expiry

    def finish(self, order: SimOrder, status: OrderStatus) -> None:
        """Take a finished order out of the working indexes."""
        order.status = status
        self.open.pop(order.client_order_id, None)
        book = self.by_instrument.get(order.key)
        if book is not None:
            book.remove(order)
            if not book:
                del self.by_instrument[order.key]
        if order.oca is not None:
            group = self.oca_groups.get(order.oca)
            if group is not None and order in group:
                group.remove(order)
                if not group:
                    del self.oca_groups[order.oca]

    def end(self, order: SimOrder, kind: OrderEventKind, ts: datetime, reason: str = "") -> None:
        """Cancel or expire a working order (and settle its bracket children)."""
        status = _S.CANCELED if kind is _K.CANCELED else _S.EXPIRED
        if order.status is _S.SUBMITTED:
            self.open.pop(order.client_order_id, None)
            order.status = status
        else:
            self.finish(order, status)
        self.emit(order, kind, ts, reason)
        self._settle_children(order, ts)

    def _settle_children(self, parent: SimOrder, ts: datetime) -> None:
        """A parent that ends unfilled takes its children with it; one that ends partly filled
        shrinks them to what it filled, so they protect exactly the position it opened."""
        for child in list(parent.children):
            if not child.is_working:
                continue
            if parent.filled == 0:
                self.end(child, _K.CANCELED, ts, "parent order ended without a fill")
            elif child.qty > parent.filled:
                child.qty = max(parent.filled, child.filled)
                if child.qty == child.filled:
                    self.finish(child, _S.FILLED)
                self.emit_updated(child, ts, "reduced to the parent's filled quantity")

    def oca_filled(self, order: SimOrder, units: int, ts: datetime) -> None:
        """Another member of `order`'s OCA group executed `units`: cancel or reduce the rest."""
        name = order.oca or ""
        self.oca_executed[name] = self.oca_executed.get(name, 0) + units
        group = self.oca_groups.get(name)
        if not group:
            return
        for other in list(group):
            if other is order or not other.is_working:
                continue
            if order.oca_type is OcaType.CANCEL_WITH_BLOCK:
                self.end(other, _K.CANCELED, ts, f"OCA group {order.oca}: {order.client_order_id}")
                continue
            new_qty = other.qty - units
            if new_qty <= other.filled:
                if other.filled == 0:
                    self.end(other, _K.CANCELED, ts, f"OCA group {order.oca} reduced it to 0")
                    continue
                new_qty = other.filled
            other.qty = new_qty
            if other.qty == other.filled:
                self.finish(other, _S.FILLED)
            self.emit_updated(other, ts, f"OCA group {order.oca} reduced it")

    def expire_due(self, now: datetime, key: str | None = None) -> None:
        """Expire every working order whose DAY/GTD/option deadline is at or before `now` (only
        the orders of instrument `key`, when given)."""
        due = sorted(
            (
                o
                for o in self.open.values()
                if o.expire_at is not None and o.expire_at <= now and (key is None or o.key == key)
            ),
            key=lambda o: o.seq,
        )
        for order in due:
            if order.status.is_working:
                self.end(order, _K.EXPIRED, now, "time in force ended")
        remaining = [o.expire_at for o in self.open.values() if o.expire_at is not None]
        self.next_expiry = min(remaining) if remaining else None

    # -- modification --------------------------------------------------------------------------
    def modify(
        self,
        order: SimOrder,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
        ts: datetime,
        *,
        trail: tuple[Decimal | None, Decimal | None] = (None, None),
        last: int | None = None,
    ) -> bool:
        """Apply a confirmed modification (UPDATED) or refuse it (MODIFY_REJECTED). `trail` is
        a trailing stop's new (amount, percent); its stop is then recomputed from `last` (the
        instrument's last trade, when there is one), as IB recomputes it from the market."""
        problem = self._modify_problem(order, quantity, limit_price, stop_price) or (
            _trail_problem(order, *trail)
        )
        if problem:
            self.emit(order, _K.MODIFY_REJECTED, ts, problem)
            return False
        if quantity is not None:
            order.qty = int(quantity / order.size_increment)
        if limit_price is not None:
            order.limit = to_units(limit_price)
        if stop_price is not None:
            order.stop = to_units(stop_price)
        amount, percent = trail
        if amount is not None or percent is not None:
            order.set_trail(amount, percent)
            if stop_price is None and not order.triggered and last is not None:
                order.stop = order.trail_stop_from(last)
        self.emit_updated(order, ts, trail=trail)
        return True

    @staticmethod
    def _modify_problem(
        order: SimOrder,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
    ) -> str:
        instrument = order.instrument
        order_type = order.request.order_type
        if quantity is not None:
            if quantity <= 0 or not instrument.is_valid_quantity(quantity):
                return f"quantity {quantity} is not a positive multiple of the size increment"
            if int(quantity / order.size_increment) <= order.filled:
                return f"quantity {quantity} must exceed the filled quantity"
        if limit_price is not None:
            if order_type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                return f"a {order_type.value} order has no limit price"
            if limit_price <= 0 or not instrument.is_valid_price(limit_price):
                return f"[110] limit price {limit_price} is off the tick {instrument.tick_size}"
        if stop_price is not None:
            if order_type in (OrderType.MARKET, OrderType.LIMIT):
                return f"a {order_type.value} order has no stop price"
            if stop_price <= 0 or not instrument.is_valid_price(stop_price):
                return f"[110] stop price {stop_price} is off the tick {instrument.tick_size}"
        return ""


def _trail_problem(order: SimOrder, amount: Decimal | None, percent: Decimal | None) -> str:
    if amount is None and percent is None:
        return ""
    if order.request.order_type is not OrderType.TRAILING_STOP:
        return f"a {order.request.order_type.value} order has no trail"
    if amount is not None and percent is not None:
        return "give a trail amount or a trail percent, not both"
    if percent is not None and percent >= 100:
        return f"trail percent {percent} must be below 100"
    return ""
