"""A simulated market for whole sessions: replayed daily bars, a pacer, and an option picker.

`SimSession.build(...)` assembles the engine, the `SimBroker`, `SimMarketData`, the clock and an
`OptionMarket`; `ReplayPacer` moves that market one trading day per cycle (every symbol's bar of
the day, then the watched options re-priced); `pick_call` lists an at-the-money call on demand so
a strategy can trade options that Strategy C later closes. Nothing here reads the wall clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs

from ordergate.adapters.sim.bars import SimBar, load_bundled_daily_bars, load_daily_bars_csv
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sim.options import OptionChain, OptionMarket, fridays_after
from ordergate.adapters.sim.replay import Replay, merge_series
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import NEW_YORK, OptionContract, OptionRight, Stock

__all__ = ["DAILY_BAR", "ReplayPacer", "SimSession"]

DAILY_BAR = timedelta(hours=6, minutes=30)
"""The span of one replayed daily bar (09:30–16:00 New York): the native bar size to ask for."""


class ReplayPacer:
    """One cycle = one trading day: every bar that starts on the next date is replayed."""

    def __init__(self, replay: Replay, bars: Sequence[SimBar]) -> None:
        self._replay = replay
        self._days = [
            list(group)
            for _, group in itertools.groupby(bars, key=lambda b: b.ts.astimezone(NEW_YORK).date())
        ]
        self._next = 0
        self.total_cycles: int | None = len(self._days)

    def upcoming_day(self) -> date | None:
        """The trading date the next cycle replays (None once every day has been replayed)."""
        if self._next >= len(self._days):
            return None
        return _day(self._days[self._next][0])

    async def next_cycle(self) -> bool:
        """Replay the next day's bars; False once every day has been replayed."""
        if self._next >= len(self._days):
            return False
        for bar in self._days[self._next]:
            self._replay.step(bar)
        self._next += 1
        return True


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
    ) -> SimSession:
        """A market replaying the last `bars` days (0 = all) of `symbols`, with `warmup` extra
        days before them so indicators are ready on the first cycle."""
        series = {s: _load(s, bars_file) for s in symbols}
        if bars:
            series = {s: b[-(bars + warmup) :] for s, b in series.items()}
        first = min(b[0].ts for b in series.values())
        clock = SimClock(first - timedelta(minutes=1))
        engine = MatchingEngine(
            start=clock.now(), starting_cash=starting_cash, fill_model=fill_model, seed=seed
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
        )

    def pick_call(self, underlying: Stock, spot: Decimal, now: datetime) -> OptionContract | None:
        """List (and start pricing) the at-the-money call expiring on the first Friday at least
        `min_days_to_expiry` days out."""
        today = now.astimezone(NEW_YORK).date()
        start = today + timedelta(days=self.min_days_to_expiry)
        expiry = fridays_after(start - timedelta(days=1), 1)[0]
        strike = (spot / self.strike_step).to_integral_value() * self.strike_step
        if strike <= 0:
            return None
        contract = OptionContract(underlying.symbol, expiry, strike, OptionRight.CALL)
        self.engine.add_instrument(contract)
        self.market_data.add_instrument(contract)
        self.options.watch(contract)
        self.broker.feed_tick(contract, self.options.price(contract, spot, now))
        return contract


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
