"""`Executor`: the matching half of the engine — walks price updates over working orders and
books the executions they cause.

The engine (`engine.py`) owns requests, latency and time; the executor owns what happens when the
price moves: the path of a bar (a jump to the open, then three legs), jumps to a tick's quote,
slippage, participation caps and the `ExecutionFill` + `CommissionReport` pair of every
execution. It is synchronous, uses only the seeded `random.Random` it is given, and does no I/O.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime
from decimal import Decimal

from ordergate.adapters.sim.bars import SimBar, from_units
from ordergate.adapters.sim.book import OrderBook
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.ledger import SimLedger
from ordergate.adapters.sim.matching import at_jump, execute_at, next_event, observe
from ordergate.adapters.sim.orders import TRAIL, SimOrder
from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.events import CommissionReport, ExecutionFill, OrderEventKind
from ordergate.domain.values import ExecutionId

__all__ = ["Executor"]

_K = OrderEventKind
_S = OrderStatus


class Executor:
    """Matches price updates against the book and books executions in the ledger."""

    def __init__(
        self, book: OrderBook, ledger: SimLedger, model: FillModel, rng: random.Random
    ) -> None:
        self.book = book
        self.ledger = ledger
        self.model = model
        self.rng = rng
        self.fill_limit: Decimal | None = None
        self.update = 0  # id of the current price update (an order executes once per update)
        self.cap: int | None = None  # quantity units the participation cap still allows
        self.arrivals: list[SimOrder] = []  # bracket children released by an execution
        self.exec_seq = 0
        ratio = model.participation
        self.participation = None if ratio is None else ratio.as_integer_ratio()
        self.slip = model.slippage_ticks
        self.slip_jitter = model.slippage_jitter_ticks

    def volume_cap(self, volume: int | None) -> int | None:
        """The quantity units `participation` allows out of `volume` (None: no cap)."""
        ratio = self.participation
        if ratio is None or volume is None:
            return None
        return volume * ratio[0] // ratio[1]

    def match_quote(
        self,
        orders: list[SimOrder],
        quote: tuple[int, int, int],
        ts: datetime,
        volume: int | None,
    ) -> None:
        """A jump to `quote` (bid, ask, last): a tick, or orders arriving on a live quote."""
        self.update += 1
        self.cap = self.volume_cap(volume)
        self._jump(orders, quote, ts, None)
        self._end_update(orders, ts)

    def match_bar(self, working: list[SimOrder], bar: SimBar) -> None:
        """Walk one bar's path over the instrument's working orders."""
        self.update += 1
        self.cap = self.volume_cap(bar.volume)
        o, h, lo, c = bar.open, bar.high, bar.low, bar.close
        self._jump(working, (o, o, o), bar.ts, (lo, h))
        for order in [x for x in working if x.ioc and x.active and x.is_working]:
            self.book.end(order, _K.CANCELED, bar.ts, "IOC: not filled at the open")
        path = (o, lo, h, c) if c >= o else (o, h, lo, c)
        step = (bar.end - bar.ts) / 4
        for leg in range(3):
            a, b = path[leg], path[leg + 1]
            if a != b and working:
                self._leg(working, a, b, bar.ts + step * (leg + 1), (lo, h))
        self._end_update(working, bar.end, ioc=False)

    def _jump(
        self,
        orders: list[SimOrder],
        quote: tuple[int, int, int],
        ts: datetime,
        bounds: tuple[int, int] | None,
    ) -> None:
        bid, ask, last = quote
        pending = [o for o in orders if o.active and o.is_working]
        while pending:
            for order in pending:
                if order.is_working:
                    price = at_jump(order, bid, ask, last)
                    if price is not None:
                        self._execute(order, price, ts, bounds)
            pending, self.arrivals = self.arrivals, []

    def _leg(
        self, working: list[SimOrder], a: int, b: int, ts: datetime, bounds: tuple[int, int]
    ) -> None:
        heap: list[tuple[int, int, SimOrder]] = []
        for order in working:
            if order.active:
                p = next_event(order, a, b)
                if p is not None:
                    heap.append((abs(p - a), order.seq, order))
        heapq.heapify(heap)
        while heap:
            distance, seq, order = heapq.heappop(heap)
            if not order.is_working:
                continue
            p = a + distance if b > a else a - distance
            price = execute_at(order, p)
            if price is None or not self._execute(order, price, ts, bounds):
                # resting again (a stop-limit that triggered off its limit) or blocked by a cap
                again = next_event(order, p, b) if order.is_working else None
                if again is not None and again != p:
                    heapq.heappush(heap, (abs(again - a), seq, order))
            arrivals, self.arrivals = self.arrivals, []
            for child in arrivals:
                if not child.is_working:
                    continue
                fill = at_jump(child, p, p, p)
                if fill is None or not self._execute(child, fill, ts, bounds):
                    again = next_event(child, p, b) if child.is_working else None
                    if again is not None:
                        heapq.heappush(heap, (abs(again - a), child.seq, child))
        for order in working:
            if order.kind == TRAIL and not order.triggered and order.active:
                observe(order, b)

    def _end_update(self, orders: list[SimOrder], ts: datetime, *, ioc: bool = True) -> None:
        for order in list(orders):
            if not order.is_working:
                continue
            if ioc and order.ioc and order.active:
                self.book.end(order, _K.CANCELED, ts, "IOC: not filled on arrival")
            elif order.kind == TRAIL and order.stop != order.reported_stop and order.stop:
                self.book.emit_updated(order, ts, "trailing stop moved")

    def _execute(
        self, order: SimOrder, price: int, ts: datetime, bounds: tuple[int, int] | None
    ) -> bool:
        """Execute what the order may fill now at `price` (slipped if market-like)."""
        if order.last_update == self.update:
            return False
        units = order.fillable()
        cap = self.cap
        if cap is not None and cap < units:
            units = cap
        if self.fill_limit is not None:
            units = min(units, int(self.fill_limit / order.size_increment))
        if units <= 0:
            return False
        if order.limit is None and (self.slip or self.slip_jitter):
            price = self._slipped(order, price, bounds)
        order.last_update = self.update
        order.filled += units
        order.value += price * units
        if cap is not None:
            self.cap = cap - units
        self._report_execution(order, units, price, ts)
        book = self.book
        if order.filled >= order.qty:
            book.finish(order, _S.FILLED)
        else:
            order.status = _S.PARTIALLY_FILLED
        if order.oca is not None:
            book.oca_filled(order, units, ts)
        for child in order.children:
            if not child.active and child.is_working:
                child.active = True
                self.arrivals.append(child)
        return True

    def _slipped(self, order: SimOrder, price: int, bounds: tuple[int, int] | None) -> int:
        ticks = self.slip
        if self.slip_jitter:
            ticks += self.rng.randint(0, self.slip_jitter)
        shift = ticks * order.units_per_tick
        moved = price + shift if order.buy else price - shift
        if bounds is not None:
            moved = min(max(moved, bounds[0]), bounds[1])
        return max(moved, 1)

    def _report_execution(self, order: SimOrder, units: int, price: int, ts: datetime) -> None:
        self.exec_seq += 1
        execution_id = ExecutionId(f"SIM-{self.exec_seq:08d}")
        request = order.request
        fill = ExecutionFill(
            order.client_order_id,
            execution_id,
            order.instrument_id,
            request.side,
            order.quantity_decimal(units),
            from_units(price),
            ts,
            ts,
            None,
            order.broker_order_id,
            request.correlation_id,
        )
        instrument = order.instrument
        model = self.model
        schedule = model.option_commission if instrument.is_option else model.stock_commission
        value = from_units(order.value) * order.size_increment * instrument.multiplier
        filled = order.quantity_decimal(order.filled)
        total = schedule.order_total(filled, value, order.month_volume)
        commission = total - order.commission
        order.commission = total
        self.ledger.apply(fill, commission, instrument)
        out = self.book.out
        out.append(fill)
        out.append(
            CommissionReport(
                execution_id, commission, ts, ts, correlation_id=request.correlation_id
            )
        )
