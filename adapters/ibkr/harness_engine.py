"""`HarnessEngine`: the gateway emulator's `InstantEngine` with the controls the contract suites
need from an IB-like broker — a settable clock, a cap on the quantity filled per price update
(partial fills), DAY/GTD expiry as the clock passes the session close or the good-till time,
quote ages and a settable bar history.

Test and demo use only: it rides on `InstantEngine`'s internals, so it lives beside the harness
that needs it. It must never import ib_async (it runs inside the emulator).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.gateway_sim.catalogue import Catalogue
from ordergate.adapters.gateway_sim.engine import OrderExecuted
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    ContractSpec,
    ExecutionReport,
    MarketSnapshot,
    OrderKey,
    OrderSpec,
    OrderStatus,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.instant_engine import InstantEngine
from ordergate.adapters.gateway_sim.instant_orders import OrderRecord
from ordergate.adapters.gateway_sim.synthetic_market import SyntheticMarket
from ordergate.adapters.ibkr.orders import session_close
from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar
from ordergate.domain.values import InstrumentId

__all__ = ["HarnessClock", "HarnessEngine"]


class HarnessClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The current (simulated) time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward."""
        self._now += timedelta(seconds=seconds)


class HarnessEngine(InstantEngine):
    """`InstantEngine` at zero spread (bid = ask = last) with the controls in the docstring."""

    def __init__(self, clock: HarnessClock, *, accounts: Sequence[str] = ("DU1234567",)) -> None:
        catalogue = Catalogue.standard(clock.now().date())
        market = SyntheticMarket(
            catalogue, stock_half_spread=Decimal(0), option_half_spread=Decimal(0)
        )
        super().__init__(accounts=accounts, catalogue=catalogue, market=market, clock=clock.now)
        self.clock = clock
        self.fill_limit: Decimal | None = None
        self._placed_at: dict[OrderKey, datetime] = {}
        self._quote_age: dict[int, timedelta] = {}
        self._history: dict[int, list[Bar]] = {}

    # -- controls --------------------------------------------------------------------------------
    def con_id(self, instrument: Instrument | InstrumentId) -> int:
        """The catalogue conId of an instrument (by id); KeyError when it is not listed."""
        wanted = instrument if isinstance(instrument, InstrumentId) else instrument.id
        for spec in self.catalogue:
            if spec.instrument.id == wanted:
                return spec.con_id
        raise KeyError(f"{wanted} is not in the emulator's catalogue")

    def advance(self, seconds: float) -> None:
        """Move the clock, then expire DAY orders past their session close and GTD orders past
        their time."""
        self.clock.advance(seconds)
        now = self.now()
        for order in self._live():
            ends = self._expiry(order)
            if ends is not None and now >= ends:
                self._cancel(order, "expired: time in force ended")

    def set_quote_age(self, con_id: int, age_seconds: float) -> None:
        """Quotes of `con_id` report a last-trade time `age_seconds` before now."""
        self._quote_age[con_id] = timedelta(seconds=age_seconds)

    def set_history(self, con_id: int, bars: Sequence[Bar]) -> None:
        """Historical bars of `con_id` come from `bars` (instead of the synthetic path)."""
        self._history[con_id] = sorted(bars, key=lambda b: b.ts)

    # -- engine overrides ------------------------------------------------------------------------
    def place_order(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> None:
        """Remember when each new order arrived (DAY orders expire at that session's close)."""
        if key not in self._orders:
            self._placed_at[key] = self.now()
        super().place_order(key, contract, spec)

    def snapshot(self, con_id: int) -> MarketSnapshot | None:
        """The quote, aged as `set_quote_age` said."""
        quote = super().snapshot(con_id)
        age = self._quote_age.get(con_id)
        if quote is None or age is None:
            return quote
        return attrs.evolve(quote, ts=self.now() - age)

    def bars(self, request: BarRequest) -> Sequence[Bar]:
        """The set history inside `[end - duration, end)`, else the synthetic bars."""
        history = self._history.get(request.con_id)
        if history is None:
            return super().bars(request)
        start = request.end - request.duration
        return [b for b in history
                if start <= b.ts < request.end and b.duration == request.bar_size]

    def _evaluate(self, order: OrderRecord) -> None:
        super()._evaluate(order)
        if order.status is OrderStatus.WORKING and order.spec.tif is TimeInForce.IOC:
            self._cancel(order, "immediate-or-cancel remainder cancelled")

    def _fill(self, order: OrderRecord, price: Decimal) -> None:
        leaves = order.spec.quantity - order.filled
        quantity = leaves if self.fill_limit is None else min(leaves, self.fill_limit)
        contract = order.contract
        commission = self._commissions.commission(contract, quantity, price)
        realized = self._ledgers[order.account].apply_fill(
            contract, order.spec.side, quantity, price, commission
        )
        order.filled += quantity
        order.notional += quantity * price
        order.last_fill_price = price
        complete = order.filled == order.spec.quantity
        if complete:
            order.status = OrderStatus.FILLED
        report = ExecutionReport(
            exec_id=self._execution_ids.next(),
            key=order.key,
            perm_id=order.perm_id,
            contract=contract,
            account=order.account,
            side=order.spec.side,
            quantity=quantity,
            price=price,
            time=self.now(),
            cum_qty=order.filled,
            avg_price=order.notional / order.filled,
            commission=commission,
            realized_pnl=realized,
            order_ref=order.spec.order_ref,
        )
        self._executions.append(report)
        self._emit(OrderExecuted(report))
        self._emit_update(order)
        if complete:
            self._after_fill(order)

    def _expiry(self, order: OrderRecord) -> datetime | None:
        spec = order.spec
        if spec.tif is TimeInForce.GTD:
            return spec.good_till
        if spec.tif is TimeInForce.DAY:
            placed = self._placed_at.get(order.key, self.now())
            return session_close(placed, xnys_calendar())
        return None
