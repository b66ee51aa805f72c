"""`Portfolio`: cash, positions, working orders, marks and the loss-limit reference points.

The portfolio changes only by `apply(event)` (order lifecycle events, fills, commissions) and by
explicit, time-stamped reference updates (`mark`, `start_session`). It holds everything the risk
rules need to decide: worst-case positions including working orders, gross notional, equity,
day-trade history, session start equity and the week's high-water mark.

Cash identity (checked by the property tests): for every moment,
`cash + Σ market value == starting_cash + realized + unrealized − commissions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue, UnknownOrder
from ordergate.domain.expiry import settlement_legs
from ordergate.domain.instruments import NEW_YORK, Instrument
from ordergate.domain.orders.events import CommissionReport, ExecutionFill, OrderLifecycleEvent
from ordergate.domain.orders.order import Order, OrderEvent
from ordergate.domain.portfolio.position import Position
from ordergate.domain.portfolio.working import WorkingBook
from ordergate.domain.settlement import OptionSettlement
from ordergate.domain.values import (
    ZERO,
    ClientOrderId,
    ExecutionId,
    InstrumentId,
    Side,
    check_decimal,
    check_utc,
)

__all__ = ["DayTrade", "Portfolio"]

DayTrade = tuple[date, InstrumentId]


class Portfolio:
    """The account as the broker reports it, rebuilt from events."""

    def __init__(self, starting_cash: Decimal, *, time_zone: ZoneInfo = NEW_YORK) -> None:
        self.starting_cash = check_decimal("starting_cash", starting_cash, non_negative=True)
        self.cash = starting_cash
        self.zone = time_zone
        self.positions: dict[InstrumentId, Position] = {}
        self.orders: dict[ClientOrderId, Order] = {}
        # Orders not yet seen terminal: `working_orders` walks only these and prunes the
        # finished ones, so a long session's history does not slow the gate down.
        self._live: dict[ClientOrderId, Order] = {}
        # The working orders' totals, kept as the orders change (`WorkingBook`): the exposure
        # questions below cost the same at 5,000 working orders as at 10.
        self.working = WorkingBook()
        self.marks: dict[InstrumentId, Decimal] = {}
        self.mark_times: dict[InstrumentId, datetime] = {}
        self.day_trades: list[DayTrade] = []
        self.session_start_equity = starting_cash
        self.session_date: date | None = None
        self.week_high_equity = starting_cash
        self.week_start: date | None = None
        self.consecutive_losses = 0
        self.total_commissions = ZERO
        self._commissioned: set[ExecutionId] = set()
        self._exec_instrument: dict[ExecutionId, InstrumentId] = {}
        self._exec_order: dict[ExecutionId, ClientOrderId] = {}
        self._pending_commissions: dict[ExecutionId, CommissionReport] = {}
        self._opened_on: dict[InstrumentId, date] = {}
        self._day_trade_orders: set[ClientOrderId] = set()
        self._last_realizing_order: ClientOrderId | None = None
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._settlements: set[str] = set()

    # -- registration ---------------------------------------------------------------------
    def add_order(self, order: Order) -> None:
        """Track an order (any status) so its working quantity counts toward worst cases.

        From now on the order reports each change to this portfolio's working book; an order
        tracked under the same id before is no longer counted.
        """
        cid = order.client_order_id
        previous = self.orders.get(cid)
        if previous is not None and previous is not order:
            previous.track(None)
            self.working.forget(previous)
        self.orders[cid] = order
        self._live[cid] = order
        self._instruments[order.request.instrument.id] = order.request.instrument
        order.track(self.working)

    def register_instrument(self, instrument: Instrument) -> None:
        """Make an instrument known so fills for it (e.g. recovered ones) can open positions."""
        self._instruments[instrument.id] = instrument

    def order(self, client_order_id: ClientOrderId) -> Order:
        try:
            return self.orders[client_order_id]
        except KeyError:
            raise UnknownOrder(f"no order {client_order_id} in the portfolio") from None

    # -- events ----------------------------------------------------------------------------
    def apply(self, event: OrderEvent | OptionSettlement) -> bool:
        """Apply an order event or an option settlement; fills, commissions and settlements also
        move positions and cash.

        Returns False when nothing changed (a repeated execution, commission or settlement).
        """
        if isinstance(event, OrderLifecycleEvent):
            return self.order(event.client_order_id).apply(event)
        if isinstance(event, ExecutionFill):
            return self._apply_fill(event)
        if isinstance(event, CommissionReport):
            return self._apply_commission(event)
        return self._apply_settlement(event)

    def _apply_settlement(self, event: OptionSettlement) -> bool:
        """Remove the option position and deliver the stock (`settlement_legs`), once per
        `settlement_id`. Not a trade: no day trade and no losing streak is counted."""
        if event.settlement_id in self._settlements:
            return False
        legs = settlement_legs(event)
        option = event.option
        held = self.position_qty(option.id)
        if held != event.quantity:
            raise InvalidValue(
                f"{type(event).__name__}.quantity",
                event.quantity,
                f"must be the open position of {option.id}, which is {held}",
            )
        self._settlements.add(event.settlement_id)
        day = event.ts_event.astimezone(self.zone).date()
        for instrument, quantity, price in legs:
            iid = instrument.id
            known = self._instruments.setdefault(iid, instrument)
            position = self.positions.get(iid)
            if position is None:
                position = self.positions[iid] = Position(known)
            if position.is_flat:
                self._opened_on[iid] = day
            position.deliver(quantity, price, event.ts_event)
            self.cash -= quantity * price * position.multiplier
        self.marks.pop(option.id, None)
        return True

    def _apply_fill(self, fill: ExecutionFill) -> bool:
        order = self.orders.get(fill.client_order_id)
        if fill.execution_id in self._exec_instrument:
            if order is not None:
                order.apply(fill)  # raises DuplicateExecution on conflicting content
            self.positions[fill.instrument_id].apply(fill)
            if fill.commission is not None and fill.execution_id not in self._commissioned:
                report = CommissionReport(
                    fill.execution_id, fill.commission, fill.ts_event, fill.ts_init
                )
                return self._apply_commission(report)
            return False
        instrument = self._instruments.get(fill.instrument_id)
        if instrument is None:
            raise UnknownOrder(
                f"fill {fill.execution_id} is for {fill.instrument_id}, which the portfolio does "
                "not know: register_instrument() it first"
            )
        pending = self._pending_commissions.pop(fill.execution_id, None)
        if fill.commission is None and pending is not None:
            fill = attrs.evolve(fill, commission=pending.commission)
        if order is not None:
            order.apply(fill)
        position = self.positions.get(fill.instrument_id)
        if position is None:
            position = self.positions[fill.instrument_id] = Position(instrument)
        was_flat = position.is_flat
        previous_qty = position.quantity
        realized = position.apply(fill)
        self._exec_instrument[fill.execution_id] = fill.instrument_id
        self._exec_order[fill.execution_id] = fill.client_order_id
        self.cash -= fill.signed_quantity * fill.price * position.multiplier
        if fill.commission is not None:
            self._charge(fill.execution_id, fill.commission)
        self._record_day_trade(fill, was_flat, previous_qty)
        # One closing order is one trade, however many partial fills it takes.
        if realized != 0 and fill.client_order_id != self._last_realizing_order:
            self._last_realizing_order = fill.client_order_id
            self.consecutive_losses = self.consecutive_losses + 1 if realized < 0 else 0
        return True

    def _apply_commission(self, report: CommissionReport) -> bool:
        if report.execution_id in self._commissioned:
            return False
        instrument_id = self._exec_instrument.get(report.execution_id)
        if instrument_id is None:
            # Commission before its execution: hold it until the fill arrives.
            if report.execution_id in self._pending_commissions:
                return False
            self._pending_commissions[report.execution_id] = report
            return True
        self.positions[instrument_id].add_commission(report)
        order = self.orders.get(self._exec_order[report.execution_id])
        if order is not None:
            order.apply(report)
        self._charge(report.execution_id, report.commission)
        return True

    def _charge(self, execution_id: ExecutionId, commission: Decimal) -> None:
        self._commissioned.add(execution_id)
        self.cash -= commission
        self.total_commissions += commission

    def _record_day_trade(self, fill: ExecutionFill, was_flat: bool, previous_qty: Decimal) -> None:
        day = fill.ts_event.astimezone(self.zone).date()
        iid = fill.instrument_id
        if was_flat:
            self._opened_on[iid] = day
            return
        reduces = (previous_qty > 0) != (fill.side is Side.BUY)
        if (
            reduces
            and self._opened_on.get(iid) == day
            and fill.client_order_id not in self._day_trade_orders
        ):
            self._day_trade_orders.add(fill.client_order_id)  # partial fills: one day trade
            self.day_trades.append((day, iid))
        position = self.positions[iid]
        if not position.is_flat and (position.quantity > 0) != (previous_qty > 0):
            self._opened_on[iid] = day  # flipped: a new position opened today

    # -- references ------------------------------------------------------------------------
    def mark(self, instrument_id: InstrumentId, price: Decimal, ts: datetime) -> None:
        """Record the latest price of an instrument and update the week's high equity."""
        check_decimal("mark price", price, positive=True)
        check_utc("mark ts", ts)
        self.marks[instrument_id] = price
        self.mark_times[instrument_id] = ts
        self.week_high_equity = max(self.week_high_equity, self.equity())

    def start_session(self, now: datetime) -> None:
        """Begin a trading session: fix the session start equity, restart the losing streak
        (it is counted within a session), and roll the week's high-water mark if needed."""
        check_utc("now", now)
        today = now.astimezone(self.zone).date()
        monday = today - timedelta(days=today.weekday())
        equity = self.equity()
        if self.week_start != monday:
            self.week_start = monday
            self.week_high_equity = equity
        self.session_date = today
        self.session_start_equity = equity
        self.consecutive_losses = 0
        self.week_high_equity = max(self.week_high_equity, equity)

    # -- read model ------------------------------------------------------------------------
    def position(self, instrument_id: InstrumentId) -> Position | None:
        return self.positions.get(instrument_id)

    def has_execution(self, execution_id: ExecutionId) -> bool:
        """True once the execution `execution_id` has been applied to a position."""
        return execution_id in self._exec_instrument

    def position_qty(self, instrument_id: InstrumentId) -> Decimal:
        position = self.positions.get(instrument_id)
        return ZERO if position is None else position.quantity

    def open_positions(self) -> Iterator[Position]:
        return (p for p in self.positions.values() if not p.is_flat)

    def working_orders(self, instrument_id: InstrumentId | None = None) -> Iterator[Order]:
        """Orders that may still fill (optionally of one instrument)."""
        finished = [cid for cid, order in self._live.items() if order.status.is_terminal]
        for cid in finished:
            del self._live[cid]
        for order in list(self._live.values()):
            if order.status.is_working and (
                instrument_id is None or order.request.instrument.id == instrument_id
            ):
                yield order

    def working_qty(self, instrument_id: InstrumentId, side: Side) -> Decimal:
        """Quantity of working orders on `side` that may still fill."""
        return self.working.working_qty(instrument_id, side)

    def worst_case_position(self, instrument_id: InstrumentId) -> tuple[Decimal, Decimal]:
        """(most long, most short) the position could reach if every working order filled."""
        qty = self.position_qty(instrument_id)
        return (
            qty + self.working_qty(instrument_id, Side.BUY),
            qty - self.working_qty(instrument_id, Side.SELL),
        )

    def mark_of(self, instrument_id: InstrumentId) -> Decimal | None:
        mark = self.marks.get(instrument_id)
        if mark is not None:
            return mark
        position = self.positions.get(instrument_id)
        return None if position is None else position.avg_open_price

    def market_value(self) -> Decimal:
        total = ZERO
        for position in self.open_positions():
            mark = self.mark_of(position.instrument_id)
            if mark is not None:
                total += position.market_value(mark)
        return total

    def equity(self) -> Decimal:
        """Cash plus the marked value of every open position."""
        return self.cash + self.market_value()

    def gross_notional(self) -> Decimal:
        """Σ |position| × mark × multiplier."""
        total = ZERO
        for position in self.open_positions():
            mark = self.mark_of(position.instrument_id)
            if mark is not None:
                total += position.notional(mark)
        return total

    def net_notional(self) -> Decimal:
        return self.market_value()

    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def unrealized_pnl(self) -> Decimal:
        total = ZERO
        for position in self.open_positions():
            mark = self.mark_of(position.instrument_id)
            if mark is not None:
                total += position.unrealized_pnl(mark)
        return total

    def session_pnl(self) -> Decimal:
        """Equity change since the session started (realized + unrealized − commissions)."""
        return self.equity() - self.session_start_equity

    def drawdown_from_week_high(self) -> Decimal:
        """Fractional drop of equity from the week's high-water mark (0.05 = 5%)."""
        if self.week_high_equity <= 0:
            return ZERO
        return max(ZERO, (self.week_high_equity - self.equity()) / self.week_high_equity)

    def day_trades_within(
        self, now: datetime, business_days: int = 5, calendar: TradingCalendar | None = None
    ) -> int:
        """Day trades in the last `business_days` business days up to `now`'s exchange date.

        Business days are `calendar`'s sessions (an exchange holiday is not a business day:
        FINRA's five-day window over Thanksgiving reaches back to the Monday before). Without a
        calendar the window counts weekdays, which is wrong across holidays; the application
        always passes one (`TradingDesk`).
        """
        today = now.astimezone(self.zone).date()
        window: set[date]
        if calendar is not None:
            window = set(calendar.previous_sessions(today, business_days))
        else:
            window = set()
            day = today
            while len(window) < business_days:
                if day.weekday() < 5:
                    window.add(day)
                day -= timedelta(days=1)
        return sum(1 for d, _ in self.day_trades if d in window)

    def reserved_cash(self) -> Decimal:
        """Cash the working buy orders could consume at their limit/stop or mark price."""
        total = ZERO
        for iid, totals in self.working.instruments():
            total += totals.priced_buy_cash
            if totals.unpriced_buy:
                mark = self.mark_of(iid)
                if mark is not None:
                    total += totals.unpriced_buy * mark * totals.instrument.multiplier
        return total

    def available_funds(self) -> Decimal:
        return self.cash - self.reserved_cash()

    def instruments(self) -> Iterable[Instrument]:
        return self._instruments.values()
