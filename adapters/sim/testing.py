"""Harnesses through which the port contract suites drive the simulator.

`SimBrokerHarness` matches `ordergate.application.testing.harness.BrokerHarness` and
`SimMarketDataHarness` matches `MarketDataHarness` structurally (this adapter does not import the
application layer). Build them with `await SimBrokerHarness.create()` /
`await SimMarketDataHarness.create()`; both start on a Tuesday at 10:00 New York time, with no
price for any instrument until a test sets one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar

__all__ = ["HARNESS_START", "SimBrokerHarness", "SimMarketDataHarness"]

HARNESS_START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)  # Tuesday 10:00 America/New_York
_TIMEOUT = 5.0


def _instruments() -> tuple[Stock, OptionContract, Stock]:
    stock = Stock("AAPL", primary_exchange="NASDAQ")
    option = OptionContract("AAPL", date(2024, 2, 16), Decimal(190), OptionRight.CALL)
    return stock, option, Stock("ZZNOPE")


class SimBrokerHarness:
    """A connected `SimBroker` with an AAPL stock and an AAPL call it knows, and one stock
    (`unknown`) it rejects. Prices move only through `set_price` (a tick: bid = ask = last)."""

    def __init__(self, broker: SimBroker, stock: Stock, option: OptionContract, unknown: Stock):
        self.broker = broker
        self.sim = broker  # the concrete type, for tests that use the simulator's own controls
        self.stock: Instrument = stock
        self.option: Instrument = option
        self.unknown: Instrument = unknown

    @classmethod
    async def create(
        cls,
        *,
        seed: int = 0,
        fill_model: FillModel | None = None,
        starting_cash: Decimal = Decimal(10_000_000),
        start: datetime = HARNESS_START,
    ) -> SimBrokerHarness:
        """A new simulated account (10,000,000 USD by default), connected."""
        stock, option, unknown = _instruments()
        clock = SimClock(start)
        engine = MatchingEngine(
            start=start, starting_cash=starting_cash, fill_model=fill_model, seed=seed
        )
        engine.add_instrument(stock)
        engine.add_instrument(option)
        broker = SimBroker(engine, clock)
        await broker.connect(timeout=_TIMEOUT)
        return cls(broker, stock, option, unknown)

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """The market trades at `price`; marketable working orders fill."""
        self.broker.feed_tick(instrument, price)

    async def set_fill_limit(self, quantity: Decimal | None) -> None:
        """Cap each execution at `quantity` (None removes the cap)."""
        self.broker.engine.fill_limit = quantity

    async def reject_next(self, reason: str) -> None:
        """The next order reaching the broker is REJECTED with `reason`."""
        self.broker.engine.reject_next(reason)

    async def stall(self, seconds: float) -> None:
        """The broker's next reply is delayed by `seconds` of real time."""
        self.broker.stall(seconds)

    async def advance(self, seconds: float) -> None:
        """Simulated time passes: DAY orders expire at the close, GTD ones at their time."""
        self.broker.clock.advance(seconds)

    async def now(self) -> datetime:
        """The simulation's current time."""
        return self.broker.clock.now()

    async def settle(self) -> None:
        """Events are published synchronously; one pass of the loop lets consumers run."""
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Disconnect the broker."""
        await self.broker.disconnect(timeout=_TIMEOUT)


class SimMarketDataHarness:
    """A `SimMarketData` on its own clock that knows AAPL (`stock`) and not `unknown`."""

    def __init__(self, market_data: SimMarketData, clock: SimClock, stock: Stock, unknown: Stock):
        self.market_data = market_data
        self.sim = market_data
        self.clock = clock
        self.stock: Instrument = stock
        self.unknown: Instrument = unknown

    @classmethod
    async def create(cls, *, start: datetime = HARNESS_START) -> SimMarketDataHarness:
        """A new market-data source with no data yet."""
        stock, _, unknown = _instruments()
        clock = SimClock(start)
        market_data = SimMarketData(clock)
        market_data.add_instrument(stock)
        return cls(market_data, clock, stock, unknown)

    async def set_quote(self, instrument: Instrument, price: Decimal, age_seconds: float) -> None:
        """The latest quote of `instrument` is `price`, taken `age_seconds` ago."""
        self.market_data.set_quote(instrument, price, age_seconds=age_seconds)

    async def set_bars(self, instrument: Instrument, bars: Sequence[Bar]) -> None:
        """History for `instrument`; the clock moves to the last bar's end if it is later
        (history never lies in the simulation's future)."""
        self.market_data.set_bars(instrument, bars)
        if bars:
            last_end = max(b.end for b in bars)
            if last_end > self.clock.now():
                self.clock.advance_to(last_end)

    async def stall(self, seconds: float) -> None:
        """The next reply is delayed by `seconds` of real time."""
        self.market_data.stall(seconds)

    async def now(self) -> datetime:
        """The simulation's current time."""
        return self.clock.now()

    async def close(self) -> None:
        """Nothing to release (no connections)."""
