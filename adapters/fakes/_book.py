"""Price rules of the fake broker's order book: when an order triggers, at what price it executes,
how a trailing stop follows the market, and when a DAY order's session closes.

Pure functions over one `BookOrder`; they decide, the matching engine acts. Nothing here emits
events or reads a clock.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from ordergate.domain.account import OrderView
from ordergate.domain.instruments import quantize_price
from ordergate.domain.orders import Order, OrderRequest, OrderType, TimeInForce
from ordergate.domain.values import BrokerOrderId, Side

__all__ = ["BookOrder", "execution_price", "expiry_time", "follow_market", "trail_from"]

_SATURDAY = 5


@attrs.define
class BookOrder:
    """One order as the fake broker holds it: the domain `Order` (the broker's own view, changed
    only by the events the broker emits) plus matching state."""

    request: OrderRequest
    order: Order
    broker_order_id: BrokerOrderId
    sequence: int
    expires_at: datetime | None
    active: bool  # bracket children wait (inactive) until their parent fills
    triggered: bool = False  # a stop / stop-limit / trailing stop has been touched
    watermark: Decimal | None = None  # best price seen by a trailing stop
    trail_stop: Decimal | None = None  # a trailing stop's current trigger price
    trail_limit: Decimal | None = None  # a trailing stop-limit's limit, fixed when triggered

    @property
    def is_working(self) -> bool:
        """True while the order may still fill."""
        return self.order.status.is_working

    @property
    def stop(self) -> Decimal | None:
        """The trigger price in force (a trailing stop's moves with the market)."""
        if self.request.order_type is OrderType.TRAILING_STOP:
            return self.trail_stop
        return self.order.stop_price

    def view(self) -> OrderView:
        """The broker's view of this order."""
        order = self.order
        return OrderView(
            client_order_id=order.client_order_id,
            broker_order_id=self.broker_order_id,
            instrument_id=self.request.instrument_id,
            side=self.request.side,
            order_type=self.request.order_type,
            status=order.status,
            quantity=order.quantity,
            filled_qty=order.filled_qty,
            limit_price=order.limit_price,
            stop_price=self.stop,
            avg_px=order.avg_px,
        )


def _limit_ok(side: Side, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


def _touched(side: Side, stop: Decimal, price: Decimal) -> bool:
    return price >= stop if side is Side.BUY else price <= stop


def trail_from(request: OrderRequest, watermark: Decimal) -> Decimal:
    if request.trail_amount is not None:
        distance = request.trail_amount
    else:
        assert request.trail_percent is not None  # OrderRequest guarantees one of the two
        distance = watermark * request.trail_percent / 100
    raw = watermark + distance if request.side is Side.BUY else watermark - distance
    return quantize_price(raw, request.instrument.tick_size)


def follow_market(book: BookOrder, price: Decimal) -> None:
    """Move a trailing stop's trigger with the market (it only ever tightens)."""
    request = book.request
    if request.order_type is not OrderType.TRAILING_STOP or book.triggered:
        return
    if book.watermark is None:
        book.watermark = price
        book.trail_stop = request.stop_price or trail_from(request, price)
        return
    better = price < book.watermark if request.side is Side.BUY else price > book.watermark
    if not better:
        return
    book.watermark = price
    candidate = trail_from(request, price)
    assert book.trail_stop is not None
    if request.side is Side.BUY:
        book.trail_stop = min(book.trail_stop, candidate)
    else:
        book.trail_stop = max(book.trail_stop, candidate)


def execution_price(book: BookOrder, price: Decimal) -> Decimal | None:
    """The price `book` executes at when the market trades at `price`, or None if it does not.

    Marks stops as triggered when touched. Market and triggered stop orders take the market price;
    limits execute at the market price when it is at or better than the limit (price improvement
    on a gap, as an exchange would).
    """
    request, side = book.request, book.request.side
    kind = request.order_type
    if kind is OrderType.MARKET:
        return price
    if kind is OrderType.LIMIT:
        limit = book.order.limit_price
        assert limit is not None
        return price if _limit_ok(side, limit, price) else None
    if not book.triggered:
        stop = book.stop
        if stop is None or not _touched(side, stop, price):
            return None
        book.triggered = True
        if kind is OrderType.TRAILING_STOP and request.trail_limit_offset is not None:
            offset = request.trail_limit_offset
            book.trail_limit = stop + offset if side is Side.BUY else stop - offset
    if kind is OrderType.STOP_LIMIT:
        limit = book.order.limit_price
        assert limit is not None
        return price if _limit_ok(side, limit, price) else None
    if book.trail_limit is not None:
        return price if _limit_ok(side, book.trail_limit, price) else None
    return price


def _next_weekday(day: datetime) -> datetime:
    day += timedelta(days=1)
    while day.weekday() >= _SATURDAY:
        day += timedelta(days=1)
    return day


def expiry_time(
    request: OrderRequest, submitted_at: datetime, session_close: time
) -> datetime | None:
    """When the order stops working by itself: DAY at the session close (in the instrument's
    time zone; after the close, the next weekday's), GTD at `expire_at`, otherwise never."""
    if request.time_in_force is TimeInForce.GTD:
        return request.expire_at
    if request.time_in_force is not TimeInForce.DAY:
        return None
    zone = ZoneInfo(request.instrument.time_zone)
    local = submitted_at.astimezone(zone)
    close = datetime.combine(local.date(), session_close, tzinfo=zone)
    if local >= close or local.weekday() >= _SATURDAY:
        close = datetime.combine(_next_weekday(local).date(), session_close, tzinfo=zone)
    return close.astimezone(submitted_at.tzinfo)
