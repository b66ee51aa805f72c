"""`WorkingBook`: the totals of the working orders, kept up to date as each order changes.

The risk gate asks, for every decision, how much every instrument could still buy and sell
(its worst-case position), how much cash the working buys could consume and how many orders are
working. Walking every working order for that makes a placement cost grow with the book; this
keeps the answers instead. Every order the portfolio tracks reports to the book after each
change (`Order.apply` calls `refresh`), and the book replaces what it had counted for that order
with what the order now contributes: nothing once it is no longer working, else its working
quantity on its side, the cash a buy reserves at its limit (else stop) price, or — without a
price — its quantity, valued at the mark when asked.

Decimal sums of these values are exact as long as they stay within the context's 28 digits, so
the totals equal a fresh walk of the working orders (the property tests compare them after
random event sequences).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from decimal import Decimal

from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.order import Order
from ordergate.domain.values import ZERO, ClientOrderId, InstrumentId, Side

__all__ = ["InstrumentTotals", "WorkingBook"]

# What one working order contributes: (instrument, is a buy, working quantity, limit/stop price).
_Share = tuple[Instrument, bool, Decimal, Decimal | None]


class InstrumentTotals:
    """The working orders of one instrument, summed."""

    __slots__ = ("_heap", "_prices", "buy", "instrument", "orders", "priced_buy_cash", "sell",
                 "unpriced_buy")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.orders = 0
        self.buy = ZERO
        self.sell = ZERO
        self.priced_buy_cash = ZERO  # Σ working qty × price × multiplier of the priced buys
        self.unpriced_buy = ZERO  # Σ working qty of the buys without a limit or stop price
        self._prices: dict[Decimal, int] = {}  # limit/stop price -> working orders at it
        self._heap: list[Decimal] = []  # negated prices, pruned lazily

    def top_price(self) -> Decimal | None:
        """The highest limit (else stop) price among the working orders, if any has one."""
        heap, prices = self._heap, self._prices
        while heap and not prices.get(-heap[0]):
            heapq.heappop(heap)
        return -heap[0] if heap else None

    def add(self, share: _Share) -> None:
        instrument, buy, quantity, price = share
        self.orders += 1
        if buy:
            self.buy += quantity
            if price is None:
                self.unpriced_buy += quantity
            else:
                self.priced_buy_cash += quantity * price * instrument.multiplier
        else:
            self.sell += quantity
        if price is not None:
            count = self._prices.get(price, 0)
            self._prices[price] = count + 1
            if not count:
                heap = self._heap
                heapq.heappush(heap, -price)
                if len(heap) > 2 * len(self._prices) + 16:  # stale entries: rebuild
                    heap[:] = [-p for p in self._prices]
                    heapq.heapify(heap)

    def remove(self, share: _Share) -> None:
        instrument, buy, quantity, price = share
        self.orders -= 1
        if buy:
            self.buy -= quantity
            if price is None:
                self.unpriced_buy -= quantity
            else:
                self.priced_buy_cash -= quantity * price * instrument.multiplier
        else:
            self.sell -= quantity
        if price is not None:
            count = self._prices[price] - 1
            if count:
                self._prices[price] = count
            else:
                del self._prices[price]  # its heap entry goes when it reaches the top


def _share(order: Order) -> _Share | None:
    if not order.status.is_working:
        return None
    request = order.request
    return (
        request.instrument,
        request.side is Side.BUY,
        order.leaves_qty,
        order.limit_price or order.stop_price,
    )


class WorkingBook:
    """Totals of the working orders per instrument, and how many orders are working."""

    __slots__ = ("_counted", "_totals")

    def __init__(self) -> None:
        self._counted: dict[ClientOrderId, _Share] = {}
        self._totals: dict[InstrumentId, InstrumentTotals] = {}

    @property
    def open_orders(self) -> int:
        """How many orders are working."""
        return len(self._counted)

    def totals(self, instrument_id: InstrumentId) -> InstrumentTotals | None:
        """The totals of one instrument (None when none of its orders is working)."""
        return self._totals.get(instrument_id)

    def instruments(self) -> Iterator[tuple[InstrumentId, InstrumentTotals]]:
        """Every instrument with a working order, and its totals."""
        return iter(self._totals.items())

    def refresh(self, order: Order) -> None:
        """Count what `order` contributes now instead of what it contributed before."""
        cid = order.client_order_id
        share = _share(order)
        counted = self._counted.get(cid)
        if counted == share:
            return
        if counted is not None:
            iid = counted[0].id
            totals = self._totals[iid]
            totals.remove(counted)
            if not totals.orders:
                del self._totals[iid]
        if share is None:
            del self._counted[cid]
            return
        self._counted[cid] = share
        iid = share[0].id
        target = self._totals.get(iid)
        if target is None:
            target = self._totals[iid] = InstrumentTotals(share[0])
        target.add(share)

    def forget(self, order: Order) -> None:
        """Stop counting `order` (it is no longer tracked)."""
        counted = self._counted.pop(order.client_order_id, None)
        if counted is not None:
            iid = counted[0].id
            totals = self._totals[iid]
            totals.remove(counted)
            if not totals.orders:
                del self._totals[iid]

    def working_qty(self, instrument_id: InstrumentId, side: Side) -> Decimal:
        """The working quantity of one instrument on `side`."""
        totals = self._totals.get(instrument_id)
        if totals is None:
            return ZERO
        return totals.buy if side is Side.BUY else totals.sell
