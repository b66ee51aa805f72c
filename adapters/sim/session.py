"""A simulated market for whole sessions: replayed daily bars, a pacer, and an option picker.

`SimSession.build(...)` assembles the engine, the `SimBroker`, `SimMarketData`, the clock and an
`OptionMarket`; `ReplayPacer` moves that market one trading day per cycle (every symbol's bar of
the day, then the watched options re-priced; `step_day` is the synchronous form the gateway
emulator drives). `atm_call` chooses an at-the-money call (a pure function), `list_option` makes
any option tradable and priced, and `pick_call` does both so a strategy can trade options that
Strategy C later closes. Nothing here reads the wall clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.sim.bars import (
    SimBar,
    from_units,
    load_bundled_daily_bars,
    load_daily_bars_csv,
    to_units,
)
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sim.options import OptionChain, OptionMarket, fridays_after
from ordergate.adapters.sim.replay import Replay, merge_series
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue
from ordergate.domain.expiry import DEFAULT_EXERCISE_THRESHOLD
from ordergate.domain.instruments import (
    NEW_YORK,
    OptionContract,
    OptionRight,
    Stock,
    quantize_price,
)
from ordergate.domain.values import InstrumentId
from ordergate.ports.broker import BrokerEvent

__all__ = ["DAILY_BAR", "ReplayPacer", "SimSession", "atm_call"]

DAILY_BAR = timedelta(hours=6, minutes=30)
"""The span of one replayed daily bar (09:30–16:00 New York): the native bar size to ask for."""


class ReplayPacer:
    """One cycle = one trading day: every bar that starts on the next date is replayed. The
    day can also be replayed a bar at a time (`step_bar`); a cycle then replays what is left.
    It is the `MarketReplay` behind `OrderGate.simulation`."""

    def __init__(self, replay: Replay, bars: Sequence[SimBar]) -> None:
        self._replay = replay
        self._days = [
            list(group)
            for _, group in itertools.groupby(bars, key=lambda b: b.ts.astimezone(NEW_YORK).date())
        ]
        self._next = 0
        self._bar = 0  # bars of day `_next` already replayed
        self.total_cycles: int | None = len(self._days)

    def upcoming_day(self) -> date | None:
        """The trading date the next bar belongs to (None once every day has been replayed)."""
        if self._next >= len(self._days):
            return None
        return _day(self._days[self._next][0])

    def upcoming_bar_ts(self) -> datetime | None:
        """When the next bar interval starts (None once every bar has been replayed)."""
        if self._next >= len(self._days):
            return None
        return self._days[self._next][self._bar].ts

    def days_left(self) -> int:
        """Trading days not yet fully replayed (a day begun counts)."""
        return len(self._days) - self._next

    def step_bar(self) -> list[BrokerEvent] | None:
        """Replay the next bar interval (every symbol's bar that starts at the next bar time)
        and return the events it caused (None once every bar has been replayed)."""
        if self._next >= len(self._days):
            return None
        day = self._days[self._next]
        start = day[self._bar].ts
        events: list[BrokerEvent] = []
        while self._bar < len(day) and day[self._bar].ts == start:
            events.extend(self._replay.step(day[self._bar]))
            self._bar += 1
        if self._bar >= len(day):
            self._next += 1
            self._bar = 0
        return events

    def step_day(
        self, observe: Callable[[list[BrokerEvent]], None] | None = None
    ) -> list[BrokerEvent] | None:
        """Replay the rest of the next day's bars at once and return the events they caused, in
        order (None once every day has been replayed). `observe`, if given, receives each bar's
        events as that bar is replayed, so a caller can pass them on while the market stands
        where they happened."""
        if self._next >= len(self._days):
            return None
        events: list[BrokerEvent] = []
        for bar in self._days[self._next][self._bar :]:
            caused = self._replay.step(bar)
            if caused:
                events.extend(caused)
                if observe is not None:
                    observe(caused)
        self._next += 1
        self._bar = 0
        return events

    async def next_bar(self) -> bool:
        """Replay the next bar interval; False once every bar has been replayed."""
        return self.step_bar() is not None

    async def next_cycle(self) -> bool:
        """Replay the rest of the next day's bars; False once every day has been replayed."""
        return self.step_day() is not None


@attrs.define
class SimSession:
    """Everything a simulated session runs on."""

    clock: SimClock
    engine: MatchingEngine
    broker: SimBroker
    market_data: SimMarketData
    options: OptionMarket
    stocks: tuple[Stock, ...]
    pacer: ReplayPacer
    volatility: Decimal
    min_days_to_expiry: int = 21
    strike_step: Decimal = Decimal(5)
    series: dict[str, list[SimBar]] = attrs.field(factory=dict)
    """Every replayed bar per symbol, warm-up included (what `market_data` was given)."""

    @classmethod
    def build(
        cls,
        symbols: Sequence[str],
        *,
        bars: int = 0,
        bars_file: str | None = None,
        seed: int = 7,
        starting_cash: Decimal = Decimal(100_000),
        volatility: Decimal = Decimal("0.35"),
        warmup: int = 60,
        fill_model: FillModel | None = None,
        account_id: str = "DU0000000",
        exercise_threshold: Decimal = DEFAULT_EXERCISE_THRESHOLD,
    ) -> SimSession:
        """A market replaying the last `bars` days (0 = all) of `symbols`, with `warmup` extra
        days before them so indicators are ready on the first cycle, for account `account_id`.
        Options still open at expiry settle with `exercise_threshold` (IB's $0.01)."""
        series = {s: _load(s, bars_file) for s in symbols}
        if bars:
            series = {s: b[-(bars + warmup) :] for s, b in series.items()}
        # Only the bars the session replays are put on the tick grid.
        series = {s: _on_grid(s, b) for s, b in series.items()}
        first = min(b[0].ts for b in series.values())
        clock = SimClock(first - timedelta(minutes=1))
        engine = MatchingEngine(
            start=clock.now(),
            starting_cash=starting_cash,
            fill_model=fill_model,
            seed=seed,
            account_id=account_id,
            exercise_threshold=exercise_threshold,
        )
        market_data = SimMarketData(clock, engine=engine)
        stocks = tuple(Stock(s) for s in symbols)
        chains = [
            OptionChain(stock, (), (), volatility) for stock in stocks
        ]  # pricing-only chains: contracts are listed on demand by `pick_call`
        options = OptionMarket(chains)
        market_data.options = options
        for stock in stocks:
            engine.add_instrument(stock)
            market_data.add_instrument(stock)
            market_data.set_bars(stock, series[stock.symbol])
        broker = SimBroker(engine, clock)
        replay = Replay(broker, options=options)
        merged = merge_series(*series.values())
        if warmup:
            # Replay the warm-up days silently so the first cycle has a full indicator window.
            warm_days = sorted({b.ts.astimezone(NEW_YORK).date() for b in merged})[:warmup]
            cut = warm_days[-1] if warm_days else None
            head = [b for b in merged if cut is not None and _day(b) <= cut]
            merged = merged[len(head) :]
            for bar in head:
                replay.step(bar)
        return cls(
            clock,
            engine,
            broker,
            market_data,
            options,
            stocks,
            ReplayPacer(replay, merged),
            volatility,
            series=series,
        )

    def pick_call(self, underlying: Stock, spot: Decimal, now: datetime) -> OptionContract | None:
        """List (and start pricing) the at-the-money call expiring on the first Friday at least
        `min_days_to_expiry` days out: `atm_call` then `list_option`."""
        contract = atm_call(
            underlying,
            spot,
            now,
            min_days_to_expiry=self.min_days_to_expiry,
            strike_step=self.strike_step,
            calendar=self.engine.calendar,
        )
        if contract is None:
            return None
        self.list_option(contract, spot=spot, now=now)
        return contract

    def list_option(
        self,
        contract: OptionContract,
        *,
        spot: Decimal | None = None,
        now: datetime | None = None,
    ) -> list[BrokerEvent]:
        """Make `contract` tradable, quoted and re-priced with its underlying, and trade it once
        at its Black–Scholes price for `spot` (default: the underlying's last trade) at `now`
        (default: the clock). Returns the events that tick caused (none for a new listing).
        `InvalidValue` when the underlying is not traded here or has not traded yet."""
        if spot is None:
            traded = self.engine.last_price(InstrumentId(contract.underlying))
            if traded is None:
                raise InvalidValue(
                    "list_option.contract",
                    contract.symbol,
                    f"cannot be priced: {contract.underlying} has not traded yet",
                )
            spot = traded[0]
        when = self.clock.now() if now is None else now
        price = self.options.price(contract, spot, when)  # InvalidValue without a chain
        self.engine.add_instrument(contract)
        self.market_data.add_instrument(contract)
        self.options.watch(contract)
        return self.broker.feed_tick(contract, price)


def atm_call(
    underlying: Stock,
    spot: Decimal,
    now: datetime,
    *,
    min_days_to_expiry: int = 21,
    strike_step: Decimal = Decimal(5),
    calendar: TradingCalendar | None = None,
) -> OptionContract | None:
    """The at-the-money call on `underlying` (strike: `spot` rounded to `strike_step`) expiring
    on the first Friday at least `min_days_to_expiry` exchange days after `now` — or, when that
    Friday is an exchange holiday (Good Friday), the session before it, as listed options do;
    None when the strike would not be positive. Chooses only: nothing is listed or priced."""
    calendar = xnys_calendar() if calendar is None else calendar
    today = now.astimezone(NEW_YORK).date()
    start = today + timedelta(days=min_days_to_expiry)
    expiry = fridays_after(start - timedelta(days=1), 1)[0]
    while not calendar.is_session(expiry):
        expiry -= timedelta(days=1)
    strike = (spot / strike_step).to_integral_value() * strike_step
    if strike <= 0:
        return None
    return OptionContract(underlying.symbol, expiry, strike, OptionRight.CALL)


def _day(bar: SimBar) -> date:
    return bar.ts.astimezone(NEW_YORK).date()


def _load(symbol: str, bars_file: str | None) -> list[SimBar]:
    loaded = (
        load_daily_bars_csv(Path(bars_file), symbol)
        if bars_file is not None
        else load_bundled_daily_bars(symbol)
    )
    if not loaded:
        raise InvalidValue("session.symbols", symbol, "has no bars in the data")
    return loaded


def _on_grid(symbol: str, bars: list[SimBar]) -> list[SimBar]:
    tick = Stock(symbol).tick_size
    return [_on_tick(bar, tick) for bar in bars]


def _on_tick(bar: SimBar, tick: Decimal) -> SimBar:
    """`bar` with its prices on the exchange's tick grid (half-even), as a real feed — and IB —
    would quote them: the data has a few sub-penny prints (averaged quotes such as 248.225)."""

    def snap(units: int) -> int:
        return to_units(quantize_price(from_units(units), tick))

    return SimBar(
        bar.instrument_id, bar.ts, bar.end,
        snap(bar.open), snap(bar.high), snap(bar.low), snap(bar.close), bar.volume,
    )
