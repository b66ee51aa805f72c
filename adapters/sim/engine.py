"""`MatchingEngine`: the simulator's deterministic, synchronous matching engine.

Fill model (the full text with examples is `docs/sim.md`):

- **Price path.** A bar is walked as a jump to the open, then open → low → high → close when it
  closes at or above its open, open → high → low → close otherwise. A tick is a jump to its
  price (bid/ask/last). Fills inside a bar are stamped at the open (the jump) or at ¼, ½, ¾ of
  the bar (the three legs).
- **Gap-through at the open.** An order that is marketable at the open (market; limit buy with
  open ≤ limit; buy stop with open ≥ stop) executes at the open, not at its own price.
- **Stops** trigger when the path reaches the stop (high ≥ buy stop, low ≤ sell stop) and then
  execute at the stop (plus slippage); stop-limits become limits at that point. Trailing stops
  (amount or percent, optional limit offset) ratchet with every price on the path and never
  loosen; an UPDATED event reports each move of the stop at the end of the bar or tick.
- **Limits** resting in the book execute only when the path trades *through* the limit (a touch
  is not a fill) and then at the limit; an order that is marketable when it arrives (on a tick,
  or at the open) executes at the current price, which is never worse than its limit.
- **Arrival.** An accepted order is eligible from the first bar that starts at or after its
  acceptance (so an order sent after a bar closed can fill at the next open); on a tick-driven
  market (after `on_tick`), it is matched against the current quote at once.
- **Order lists.** Bracket children work once their parent has filled, for at most what it
  filled, and may fill later in the same bar; OCA groups cancel (or reduce) the other members on
  an execution. A list is accepted whole before any member meets a live quote.
- **Quantity.** Each order executes at most once per price update (bar or tick), for at most its
  leaves, what its bracket parent has filled, `participation` × the bar's volume (shared by the
  instrument's orders in priority order) and `fill_limit`; the rest works on.
- **Costs.** Market-like executions (market, triggered stop, trailing stop) move `slippage_ticks`
  (+ a seeded draw) against the order, clamped to the bar's range; commissions follow the
  `FillModel`'s schedules; every `ExecutionFill` is followed by its `CommissionReport`.
- **Time in force.** DAY orders expire at the first session close of the exchange calendar
  (`calendar`, XNYS by default: 16:00, 13:00 on early closes, none on holidays) after
  acceptance, GTD at their time, option orders at the option's last trade; IOC orders get one
  matching opportunity (the arrival quote or the next bar's open) and the rest is cancelled.
- **Options at expiry.** An option position still open when its expiry session closes is
  settled from the underlying's closing price (`domain/expiry.py`): a long one at least
  `exercise_threshold` (IB's $0.01) in the money is exercised, a short one assigned — the
  contracts removed, the stock delivered at the strike — and anything else expires; each is one
  `OptionExercised` / `OptionAssigned` / `OptionExpired` event, booked by the ledger.
- **Rejections (IB-like).** Unknown instrument (200), price off the tick (110), insufficient
  funds (201), an unknown or finished bracket parent (201); duplicate client ids raise (103).
- **Latency.** Requests (submit, modify, cancel) take effect after `latency` (+ a seeded draw);
  before that an order cannot fill. The same seed, data and calls give the same events.

The engine is synchronous and does no I/O. Every mutating call returns the events it caused, in
the order a broker sends them (acceptance, executions, commissions, cancellations).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.sim.bars import SimBar, from_units, to_units
from ordergate.adapters.sim.book import OrderBook
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.execution import Executor
from ordergate.adapters.sim.ledger import SimLedger
from ordergate.adapters.sim.matching import observe
from ordergate.adapters.sim.orders import TRAIL, SimOrder, price_increment_error
from ordergate.adapters.sim.risk_checks import funds_problem
from ordergate.domain.account import AccountSummary, BrokerPosition, OrderView
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import BrokerRejected, InvalidValue, UnknownOrder
from ordergate.domain.expiry import (
    DEFAULT_EXERCISE_THRESHOLD,
    settle_option,
    settlement_id,
    settlement_time,
)
from ordergate.domain.instruments import Instrument, OptionContract, Stock
from ordergate.domain.market import Bar
from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.settlement import OptionSettlement
from ordergate.domain.values import BrokerOrderId, ClientOrderId, InstrumentId

__all__ = ["EngineEvent", "MatchingEngine"]

EngineEvent = OrderLifecycleEvent | ExecutionFill | CommissionReport | OptionSettlement
_K = OrderEventKind
_S = OrderStatus
_SUBMIT, _MODIFY, _CANCEL = 0, 1, 2


class MatchingEngine:
    """A seeded matching engine for one account. See the module docstring for the fill model.

    Market side: `on_bar`, `on_sim_bar`, `on_tick`, `advance_to`. Broker side: `submit`,
    `submit_list`, `modify`, `cancel` and the queries. Controls for tests: `reject_next`,
    `fill_limit`.
    """

    def __init__(
        self,
        *,
        start: datetime,
        starting_cash: Decimal = Decimal(100_000),
        fill_model: FillModel | None = None,
        seed: int = 0,
        account_id: str = "DU0000000",
        calendar: TradingCalendar | None = None,
        exercise_threshold: Decimal = DEFAULT_EXERCISE_THRESHOLD,
    ) -> None:
        self.fill_model = model = fill_model or FillModel()
        self.calendar = xnys_calendar() if calendar is None else calendar
        if exercise_threshold < 0:
            raise InvalidValue("exercise_threshold", exercise_threshold, "must be non-negative")
        self.exercise_threshold = exercise_threshold
        self.now = start
        self.ledger = SimLedger(account_id, starting_cash, model.leverage)
        self.book = OrderBook(self.calendar)
        self._rng = random.Random(seed)
        self.executor = Executor(self.book, self.ledger, model, self._rng)
        self._instruments: dict[InstrumentId, Instrument] = {}
        # Market state keyed by the instrument id's string (cheap to hash on the hot path).
        self._last: dict[str, int] = {}
        self._last_ts: dict[str, datetime] = {}
        self._quotes: dict[str, tuple[int, int, int]] = {}
        self._inflight: list[tuple[datetime, int, int, SimOrder, tuple[Decimal | None, ...]]] = []
        self._inflight_after: dict[ClientOrderId, datetime] = {}
        self._seq = 0
        self._reject_next: str | None = None
        self._held_arrivals: list[tuple[SimOrder, datetime]] | None = None
        self._latency_us = model.latency // timedelta(microseconds=1)
        self._jitter_us = model.latency_jitter // timedelta(microseconds=1)

    @property
    def fill_limit(self) -> Decimal | None:
        """Cap on the quantity of each execution (None: no cap); partial fills continue on later
        price updates."""
        return self.executor.fill_limit

    @fill_limit.setter
    def fill_limit(self, quantity: Decimal | None) -> None:
        self.executor.fill_limit = quantity

    # -- reference data ------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument) -> None:
        """Make `instrument` tradable (qualifiable) in this simulation."""
        self._instruments[instrument.id] = instrument

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        """The simulation's definition of an instrument, or None if unknown."""
        return self._instruments.get(instrument_id)

    def last_price(self, instrument_id: InstrumentId) -> tuple[Decimal, datetime] | None:
        """The last traded price of an instrument and when it traded, if any."""
        units = self._last.get(instrument_id.value)
        if units is None:
            return None
        return from_units(units), self._last_ts[instrument_id.value]

    def live_quote(self, instrument_id: InstrumentId) -> tuple[Decimal, Decimal] | None:
        """The bid and ask working orders match against now (set by the last tick; a bar clears
        it), or None when the instrument has no live quote."""
        quote = self._quotes.get(instrument_id.value)
        if quote is None:
            return None
        return from_units(quote[0]), from_units(quote[1])

    def reject_next(self, reason: str) -> None:
        """The next order to reach acceptance is REJECTED with `reason`."""
        self._reject_next = reason

    # -- broker side -----------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> tuple[BrokerOrderId, list[EngineEvent]]:
        """Take one order; returns the broker's id and the events caused so far (ACCEPTED or
        REJECTED at once when there is no latency, possibly fills on a tick-driven market)."""
        if request.client_order_id in self.book.orders:
            raise BrokerRejected(f"duplicate order id {request.client_order_id}", 103)
        self._seq += 1
        order = SimOrder(request, self._seq, BrokerOrderId(str(self._seq)))
        self.book.register(order)
        self._request(order, _SUBMIT, ())
        return order.broker_order_id, self._take()

    def submit_list(
        self, requests: Sequence[OrderRequest]
    ) -> tuple[tuple[BrokerOrderId, ...], list[EngineEvent]]:
        """Take a bracket (parent first) or an OCA group; all or nothing on duplicate ids."""
        ids = [r.client_order_id for r in requests]
        if len(set(ids)) != len(ids) or any(i in self.book.orders for i in ids):
            raise BrokerRejected(f"duplicate order id in {[str(i) for i in ids]}", 103)
        broker_ids: list[BrokerOrderId] = []
        events: list[EngineEvent] = []
        # The list is accepted as a whole before any member meets the live quote.
        self._held_arrivals = []
        try:
            for request in requests:
                broker_id, caused = self.submit(request)
                broker_ids.append(broker_id)
                events.extend(caused)
        finally:
            held, self._held_arrivals = self._held_arrivals, None
        for order, at in held:
            if order.active and order.is_working:
                self._arrive(order, at)
        events.extend(self._take())
        return tuple(broker_ids), events

    def modify(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
    ) -> list[EngineEvent]:
        """Request a change (a trailing stop's trail too); `BrokerRejected` if the order is
        unknown or finished. A change made before the order arrived waits for it."""
        order = self.book.get_open(client_order_id, "modify")
        self._request(
            order, _MODIFY, (quantity, limit_price, stop_price, trail_amount, trail_percent)
        )
        return self._take()

    def cancel(self, client_order_id: ClientOrderId) -> list[EngineEvent]:
        """Request a cancellation; `BrokerRejected` if the order is unknown or finished."""
        order = self.book.get_open(client_order_id, "cancel")
        self._request(order, _CANCEL, ())
        return self._take()

    def cancel_all(self) -> list[EngineEvent]:
        """Request the cancellation of every open order, oldest first (a global cancel)."""
        for order in sorted(self.book.open.values(), key=lambda o: o.seq):
            if order.client_order_id in self.book.open:  # a child may have ended with its parent
                self._request(order, _CANCEL, ())
        return self._take()

    # -- market side -----------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> list[EngineEvent]:
        """A bar of `bar.instrument_id` traded (see the fill model)."""
        return self.on_sim_bar(SimBar.from_bar(bar))

    def on_sim_bar(self, bar: SimBar) -> list[EngineEvent]:
        """The fast path of `on_bar` for bars already in integer units."""
        ts = bar.ts
        if self._inflight and self._inflight[0][0] <= ts:
            self._release(ts)
        book = self.book
        if book.next_expiry is not None and book.next_expiry <= ts:
            book.expire_due(ts)
        key = bar.key
        if self._quotes:
            self._quotes.pop(key, None)
        working = book.by_instrument.get(key)
        if working:
            self.executor.match_bar(working, bar)
        self._last[key] = bar.close
        self._last_ts[key] = bar.end
        self.now = max(self.now, bar.end)
        if book.next_expiry is not None and book.next_expiry <= self.now:
            # Only this instrument's orders: the bar covered their market up to its end, but
            # other instruments' bars of the same interval may not have been replayed yet (their
            # orders expire when a later bar starts, or when time passes).
            book.expire_due(self.now, key)
        if self._inflight and self._inflight[0][0] <= self.now:
            self._release(self.now)
        if self.ledger.open_options:
            self._settle_expired()
        if book.out:
            return self._take()
        return []

    def on_tick(
        self,
        instrument_id: InstrumentId,
        price: Decimal,
        *,
        ts: datetime | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        size: Decimal | None = None,
    ) -> list[EngineEvent]:
        """A trade at `price` (bid/ask default to it); working orders match against the quote."""
        when = self.now if ts is None or ts < self.now else ts
        self._advance(when)
        last = to_units(price)
        quote = (
            last if bid is None else to_units(bid),
            last if ask is None else to_units(ask),
            last,
        )
        key = instrument_id.value
        self._quotes[key] = quote
        self._last[key] = last
        self._last_ts[key] = when
        working = self.book.by_instrument.get(key)
        if working:
            self.executor.match_quote(working, quote, when, None if size is None else int(size))
        return self._take()

    def advance_to(self, when: datetime) -> list[EngineEvent]:
        """Time passes to `when`: requests held by latency take effect, orders expire."""
        self._advance(when)
        return self._take()

    def _advance(self, when: datetime) -> None:
        self.now = max(self.now, when)
        if self._inflight and self._inflight[0][0] <= self.now:
            self._release(self.now)
        if self.book.next_expiry is not None and self.book.next_expiry <= self.now:
            self.book.expire_due(self.now)
        if self.ledger.open_options:
            self._settle_expired()

    # -- options at expiry -----------------------------------------------------------------------
    def _settle_expired(self) -> None:
        """Settle every option position whose expiry session has closed (`domain/expiry.py`).

        The settlement price is the underlying's last price once its expiry-session print has
        been seen (its bar of that day ended at the close); if none comes — the underlying was
        halted, or has no data that day — the last price known when the next session opens. An
        underlying that never traded leaves the position waiting (there is nothing to decide
        from). Settled positions are booked by the ledger and reported as events.
        """
        now = self.now
        for iid in sorted(self.ledger.open_options, key=str):
            position = self.ledger.positions[iid]
            contract = position.instrument
            if not isinstance(contract, OptionContract):
                continue
            due = settlement_time(contract, self.calendar)
            if now < due:
                continue
            key = contract.underlying
            last = self._last.get(key)
            if last is None:
                continue
            if self._last_ts[key] < due and now < self.calendar.next_session(
                self.calendar.local_date(due)
            ).open:
                continue  # the underlying's close has not been replayed yet
            underlying = self._instruments.get(InstrumentId(key))
            event = settle_option(
                settlement=settlement_id(self.ledger.account_id, contract),
                option=contract,
                quantity=position.quantity,
                underlying_price=from_units(last),
                ts=due,
                threshold=self.exercise_threshold,
                underlying=underlying if isinstance(underlying, Stock) else None,
            )
            self.ledger.settle(event)
            self.book.out.append(event)

    # -- queries ---------------------------------------------------------------------------------
    def order_view(self, client_order_id: ClientOrderId) -> OrderView:
        """The engine's view of one order; `UnknownOrder` if it never saw it."""
        order = self.book.orders.get(client_order_id)
        if order is None:
            raise UnknownOrder(f"the simulated broker has no order {client_order_id}")
        return order.view()

    def open_orders(self) -> list[OrderView]:
        """Every submitted or working order, oldest first."""
        return [o.view() for o in sorted(self.book.open.values(), key=lambda o: o.seq)]

    def positions(self) -> list[BrokerPosition]:
        """Every non-zero position of the account."""
        return self.ledger.broker_positions()

    def executions(self, since: datetime) -> list[ExecutionFill]:
        """Executions at or after `since`, with commissions, in execution order."""
        return self.ledger.executions(since)

    def account_summary(self) -> AccountSummary:
        """Cash, net liquidation and buying power, marked at last prices."""
        reserved = self.book.funds.reserved(self.ledger, self._last)
        return self.ledger.summary(self._last, reserved, self.now)

    # -- requests and latency ----------------------------------------------------------------------
    def _request(self, order: SimOrder, action: int, args: tuple[Decimal | None, ...]) -> None:
        delay = self._latency_us
        if self._jitter_us:
            delay += self._rng.randint(0, self._jitter_us)
        # One order's requests take effect in the order they were made, and a bracket child
        # never reaches the broker before its parent.
        after = self._inflight_after
        previous = after.get(order.client_order_id)
        parent_id = order.request.parent_id
        if action == _SUBMIT and parent_id is not None and parent_id in after:
            previous = after[parent_id]
        if delay == 0 and previous is None:
            self._act(order, action, args, self.now)
            return
        at = self.now + timedelta(microseconds=delay)
        if previous is not None and previous > at:
            at = previous
        after[order.client_order_id] = at
        self._seq += 1
        heapq.heappush(self._inflight, (at, self._seq, action, order, args))

    def _release(self, until: datetime) -> None:
        inflight = self._inflight
        while inflight and inflight[0][0] <= until:
            at, _, action, order, args = heapq.heappop(inflight)
            if self._inflight_after.get(order.client_order_id) == at:
                del self._inflight_after[order.client_order_id]
            self._act(order, action, args, at)

    def _act(
        self, order: SimOrder, action: int, args: tuple[Decimal | None, ...], at: datetime
    ) -> None:
        book = self.book
        if action == _SUBMIT:
            self._accept(order, at)
        elif not (order.is_working or order.status is _S.SUBMITTED):
            return  # it finished while the request was on its way; its final event was sent
        elif action == _CANCEL:
            book.end(order, _K.CANCELED, at, "cancelled by request")
        elif order.status is _S.SUBMITTED:
            return  # a modification cannot overtake its order (requests are kept in order)
        elif (
            book.modify(
                order,
                args[0],
                args[1],
                args[2],
                at,
                trail=(args[3], args[4]),
                last=self._last.get(order.key),
            )
            and order.active
        ):
            self._arrive(order, at)

    def _accept(self, order: SimOrder, at: datetime) -> None:
        if order.status is not _S.SUBMITTED:
            return  # cancelled while on its way
        reason = self._rejection(order)
        if reason:
            self.book.reject(order, reason, at)
            return
        order.month_volume = self.ledger.month_volume(at)
        self.book.accept(order, at)
        if order.kind == TRAIL:
            last = self._last.get(order.key)
            if last is not None:
                observe(order, last)
        if order.active:
            if self._held_arrivals is not None:
                self._held_arrivals.append((order, at))
            else:
                self._arrive(order, at)

    def _arrive(self, order: SimOrder, at: datetime) -> None:
        """An order that just became active meets the live quote (tick-driven markets only)."""
        quote = self._quotes.get(order.key)
        if quote is not None:
            self.executor.match_quote([order], quote, at, None)

    def _rejection(self, order: SimOrder) -> str:
        if self._reject_next is not None:
            reason, self._reject_next = self._reject_next, None
            return reason
        instrument = self._instruments.get(order.instrument_id)
        if instrument is None or instrument != order.instrument:
            return f"[200] No security definition has been found for {order.instrument_id}"
        if instrument.is_option and instrument.is_expired(self.now):  # type: ignore[union-attr]
            return f"[201] Order rejected - reason: {order.instrument_id} has expired"
        problem = price_increment_error(order.request)
        if problem:
            return problem
        parent_id = order.request.parent_id
        if parent_id is not None:
            parent = self.book.orders.get(parent_id)
            if parent is None or not (parent.is_working or parent.filled > 0):
                return f"[201] Order rejected - reason: parent order {parent_id} is not working"
            return ""
        reserved = self.book.funds.reserved(self.ledger, self._last)
        return funds_problem(order, reserved, self.ledger, self._last)

    def _take(self) -> list[EngineEvent]:
        out = self.book.out
        self.book.out = []
        return out  # type: ignore[return-value]
