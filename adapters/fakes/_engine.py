"""The fake broker's matching engine: places, matches, modifies, cancels and expires orders.

Every change of an order is made by building the event a real broker would send, applying it to
the broker's own domain `Order` (so the fake can never emit a transition the table forbids) and
handing it to `emit`. It must never await, read the wall clock or know about connections: the
`FakeBroker` around it owns those.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import datetime, time
from decimal import Decimal

import attrs

from ordergate.adapters.fakes._account import CommissionModel, FakeAccount
from ordergate.adapters.fakes._book import (
    BookOrder,
    execution_price,
    expiry_time,
    follow_market,
    trail_from,
)
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.domain.errors import BrokerRejected, InvalidValue, UnknownOrder
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OcaType,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId, ExecutionId, InstrumentId
from ordergate.ports.broker import BrokerEvent

__all__ = ["MatchingEngine"]

K = OrderEventKind


class MatchingEngine:
    """Order book and matching for one account (see `FakeBroker` for the behaviour it gives)."""

    def __init__(
        self,
        *,
        clock: FakeClock,
        account: FakeAccount,
        instruments: Iterable[Instrument],
        emit: Callable[[BrokerEvent], None],
        commission: CommissionModel,
        session_close: time,
        execution_prefix: str,
    ) -> None:
        self._clock = clock
        self.account = account
        self.instruments = {instrument.id: instrument for instrument in instruments}
        self._emit = emit
        self._commission = commission
        self._session_close = session_close
        self._prefix = execution_prefix
        self._order_ids = itertools.count(1)
        self._execution_ids = itertools.count(1)
        self.orders: dict[ClientOrderId, BookOrder] = {}
        self.prices: dict[InstrumentId, Decimal] = {}
        self.fill_limit: Decimal | None = None
        self.reject_next: str | None = None
        self.duplicate_next_fill = False
        self.commission_first = False

    # -- placing -----------------------------------------------------------------------------
    def place(self, approved: tuple[ApprovedOrder, ...]) -> tuple[BrokerOrderId, ...]:
        """Validate the whole list (atomic), then place each order in list order."""
        if not approved:
            raise BrokerRejected("an order list needs at least one order")
        seen: set[ClientOrderId] = set()
        for item in approved:
            coid = item.request.client_order_id
            if coid in self.orders or coid in seen:
                raise BrokerRejected(f"duplicate client order id {coid}", code=103)
            parent = item.request.parent_id
            if parent is not None and parent not in seen and parent not in self.orders:
                raise BrokerRejected(f"order {coid}: parent {parent} is unknown to the broker")
            seen.add(coid)
        return tuple(self._place_one(item.request) for item in approved)

    def _place_one(self, request: OrderRequest) -> BrokerOrderId:
        now = self._clock.now()
        order = Order.from_request(request)
        order.apply(self._event(request.client_order_id, K.SUBMITTED, request=request))
        parent = self.orders.get(request.parent_id) if request.parent_id else None
        book = BookOrder(
            request=request,
            order=order,
            broker_order_id=BrokerOrderId(str(next(self._order_ids))),
            sequence=len(self.orders),
            expires_at=expiry_time(request, now, self._session_close),
            active=parent is None or parent.order.status is OrderStatus.FILLED,
        )
        self.orders[request.client_order_id] = book
        reason = self._rejection(request, parent)
        if reason:
            self._lifecycle(book, K.REJECTED, reason=reason)
            return book.broker_order_id
        if parent is not None and parent.order.is_terminal and not book.active:
            self._lifecycle(
                book, K.CANCELED, reason=f"parent {parent.request.client_order_id} ended"
            )
            return book.broker_order_id
        self._lifecycle(book, K.ACCEPTED)
        self._match(book)
        return book.broker_order_id

    def _rejection(self, request: OrderRequest, parent: BookOrder | None) -> str:
        if self.reject_next is not None:
            reason, self.reject_next = self.reject_next, None
            return reason
        instrument = self.instruments.get(request.instrument_id)
        if instrument is None:
            return f"[200] no security definition has been found for {request.instrument_id}"
        for price in (request.limit_price, request.stop_price):
            if price is not None and not instrument.is_valid_price(price):
                return f"[110] price {price} does not conform to the tick {instrument.tick_size}"
        if request.expire_at is not None and request.expire_at <= self._clock.now():
            return f"GTD expiry {request.expire_at.isoformat()} is in the past"
        if parent is not None and parent.order.status is OrderStatus.REJECTED:
            return f"parent {parent.request.client_order_id} was rejected"
        return ""

    # -- market and time ---------------------------------------------------------------------
    def set_price(self, instrument_id: InstrumentId, price: Decimal) -> None:
        """The market trades at `price`: marketable working orders fill (capped by the limit)."""
        self.prices[instrument_id] = price
        self.account.mark(instrument_id, price)
        for book in self._working(instrument_id):
            self._match(book)

    def on_time(self, now: datetime) -> None:
        """Expire DAY and GTD orders whose time has come."""
        for book in self._working(None, include_inactive=True):
            if book.is_working and book.expires_at is not None and now >= book.expires_at:
                self._lifecycle(book, K.EXPIRED, reason="time in force ended")
                self._end_children(book)

    def _working(
        self, instrument_id: InstrumentId | None, *, include_inactive: bool = False
    ) -> list[BookOrder]:
        return [
            book
            for book in self.orders.values()
            if book.is_working
            and (include_inactive or book.active)
            and (instrument_id is None or book.request.instrument_id == instrument_id)
        ]

    def _match(self, book: BookOrder) -> None:
        if not book.is_working or not book.active:
            return
        price = self.prices.get(book.request.instrument_id)
        if price is not None:
            follow_market(book, price)
            px = execution_price(book, price)
            if px is not None:
                quantity = book.order.leaves_qty
                if self.fill_limit is not None:
                    quantity = min(quantity, self.fill_limit)
                self.execute(book, quantity, px)
        if book.request.time_in_force is TimeInForce.IOC and book.is_working:
            self._lifecycle(book, K.CANCELED, reason="IOC: unfilled quantity cancelled")

    # -- executions --------------------------------------------------------------------------
    def execute(self, book: BookOrder, quantity: Decimal, price: Decimal) -> ExecutionFill:
        """Execute `quantity` of `book` at `price`; emit the fill and its commission report."""
        request = book.request
        now = self._clock.now()
        execution_id = ExecutionId(f"{self._prefix}.{next(self._execution_ids):08d}")
        commission = self._commission(request.instrument, quantity, price)
        fill = ExecutionFill(
            client_order_id=request.client_order_id,
            execution_id=execution_id,
            instrument_id=request.instrument_id,
            side=request.side,
            quantity=quantity,
            price=price,
            ts_event=now,
            ts_init=now,
            broker_order_id=book.broker_order_id,
            correlation_id=request.correlation_id,
        )
        report = CommissionReport(
            execution_id,
            commission,
            ts_event=now,
            ts_init=now,
            correlation_id=request.correlation_id,
        )
        book.order.apply(fill)
        book.order.apply(report)
        self.account.record(request.instrument, attrs.evolve(fill, commission=commission))
        first, second = (report, fill) if self.commission_first else (fill, report)
        self._emit(first)
        if self.duplicate_next_fill:
            self.duplicate_next_fill = False
            self._emit(fill)
        self._emit(second)
        self._after_fill(book, quantity)
        return fill

    def _after_fill(self, book: BookOrder, quantity: Decimal) -> None:
        group = book.request.oca_group
        if group is not None:
            for other in self._working(None, include_inactive=True):
                if other is book or other.request.oca_group != group:
                    continue
                if book.request.oca_type is OcaType.CANCEL_WITH_BLOCK:
                    self._cancel(other, f"OCA group {group}: {book.request.client_order_id} filled")
                    continue
                remaining = other.order.quantity - quantity
                if remaining <= other.order.filled_qty:
                    self._cancel(other, f"OCA group {group}: reduced to nothing")
                else:
                    self._lifecycle(other, K.UPDATED, quantity=remaining, reason=f"OCA {group}")
        if book.order.status is OrderStatus.FILLED:
            for child in self._children(book):
                child.active = True
                self._match(child)

    def _children(self, book: BookOrder) -> list[BookOrder]:
        coid = book.request.client_order_id
        return [
            child
            for child in self.orders.values()
            if child.request.parent_id == coid and child.is_working and not child.active
        ]

    def _end_children(self, book: BookOrder) -> None:
        for child in self._children(book):
            self._cancel(child, f"parent {book.request.client_order_id} ended")

    # -- requests and controls ---------------------------------------------------------------
    def book(self, client_order_id: ClientOrderId) -> BookOrder:
        """The order with this id; `UnknownOrder` if the broker never had it."""
        book = self.orders.get(client_order_id)
        if book is None:
            raise UnknownOrder(f"the broker has no order {client_order_id}")
        return book

    def working(self, client_order_id: ClientOrderId, action: str) -> BookOrder:
        """The working order with this id, or `BrokerRejected` naming why `action` cannot run."""
        book = self.orders.get(client_order_id)
        if book is None:
            raise BrokerRejected(f"cannot {action} {client_order_id}: unknown order", code=135)
        if not book.is_working:
            raise BrokerRejected(
                f"cannot {action} {client_order_id}: it is {book.order.status.value}", code=161
            )
        return book

    def modify(
        self,
        client_order_id: ClientOrderId,
        quantity: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
        trail: tuple[Decimal | None, Decimal | None] = (None, None),
    ) -> None:
        """Change a working order and confirm with UPDATED; the new terms are matched at once.
        `trail` is a trailing stop's new (amount, percent): its trigger follows the new trail
        from the best price seen so far."""
        book = self.working(client_order_id, "modify")
        request, order = book.request, book.order
        instrument = request.instrument
        trail_amount, trail_percent = trail
        if trail_amount is not None or trail_percent is not None:
            if request.order_type is not OrderType.TRAILING_STOP or (
                trail_amount is not None and trail_percent is not None
            ):
                raise BrokerRejected(
                    f"cannot modify {client_order_id}: a trail amount or percent (one of them) "
                    f"applies to a TRAILING_STOP order, not {request.order_type.value}"
                )
            try:
                book.request = attrs.evolve(
                    request, trail_amount=trail_amount, trail_percent=trail_percent
                )
            except InvalidValue as exc:
                raise BrokerRejected(f"cannot modify {client_order_id}: {exc}") from None
        if quantity is not None and (
            quantity <= order.filled_qty or not instrument.is_valid_quantity(quantity)
        ):
            raise BrokerRejected(
                f"cannot modify {client_order_id}: quantity {quantity} must exceed the filled "
                f"{order.filled_qty} and be a multiple of {instrument.size_increment}"
            )
        for name, price, allowed in (
            ("limit_price", limit_price, order.limit_price is not None),
            ("stop_price", stop_price, book.stop is not None),
        ):
            if price is None:
                continue
            if not allowed or price <= 0 or not instrument.is_valid_price(price):
                raise BrokerRejected(
                    f"cannot modify {client_order_id}: {name}={price} does not apply to a "
                    f"{request.order_type.value} order or is off the tick {instrument.tick_size}"
                )
        self._lifecycle(
            book,
            K.UPDATED,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            trail=trail,
        )
        if stop_price is not None and book.trail_stop is not None:
            book.trail_stop = stop_price
        elif book.request is not request and book.watermark is not None and not book.triggered:
            book.trail_stop = trail_from(book.request, book.watermark)
        self._match(book)

    def cancel(self, client_order_id: ClientOrderId) -> None:
        """Cancel a working order (and a bracket parent's waiting children)."""
        self._cancel(self.working(client_order_id, "cancel"), "cancelled by request")

    def reject(self, client_order_id: ClientOrderId, reason: str) -> None:
        """The broker rejects a working order that has not filled yet."""
        book = self.working(client_order_id, "reject")
        if book.order.filled_qty > 0:
            raise InvalidValue(
                "FakeBroker.reject.client_order_id",
                client_order_id,
                "has fills; a broker cancels (not rejects) a partly filled order",
            )
        self._lifecycle(book, K.REJECTED, reason=reason)
        self._end_children(book)

    def force_fill(
        self, client_order_id: ClientOrderId, quantity: Decimal | None, price: Decimal | None
    ) -> ExecutionFill:
        """Execute a working, active order now, whatever its price conditions say."""
        book = self.working(client_order_id, "fill")
        if not book.active:
            raise InvalidValue(
                "FakeBroker.fill.client_order_id", client_order_id, "waits for its parent to fill"
            )
        leaves = book.order.leaves_qty
        quantity = leaves if quantity is None else quantity
        if not 0 < quantity <= leaves:
            raise InvalidValue("FakeBroker.fill.quantity", quantity, f"must be in (0, {leaves}]")
        if price is None:
            order = book.order
            price = (
                self.prices.get(book.request.instrument_id) or order.limit_price or order.stop_price
            )
        if price is None:
            raise InvalidValue("FakeBroker.fill.price", None, "no price given and none known")
        return self.execute(book, quantity, price)

    def _cancel(self, book: BookOrder, reason: str) -> None:
        self._lifecycle(book, K.CANCELED, reason=reason)
        self._end_children(book)

    # -- events ------------------------------------------------------------------------------
    def _event(
        self,
        client_order_id: ClientOrderId,
        kind: OrderEventKind,
        *,
        request: OrderRequest,
        broker_order_id: BrokerOrderId | None = None,
        reason: str = "",
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: tuple[Decimal | None, Decimal | None] = (None, None),
    ) -> OrderLifecycleEvent:
        now = self._clock.now()
        return OrderLifecycleEvent(
            client_order_id=client_order_id,
            kind=kind,
            ts_event=now,
            ts_init=now,
            broker_order_id=broker_order_id,
            reason=reason,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            correlation_id=request.correlation_id,
            trail_amount=trail[0],
            trail_percent=trail[1],
        )

    def _lifecycle(
        self,
        book: BookOrder,
        kind: OrderEventKind,
        *,
        reason: str = "",
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail: tuple[Decimal | None, Decimal | None] = (None, None),
    ) -> None:
        event = self._event(
            book.request.client_order_id,
            kind,
            request=book.request,
            broker_order_id=book.broker_order_id,
            reason=reason,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            trail=trail,
        )
        book.order.apply(event)
        self._emit(event)
