"""`SimMarketData`: quotes from replayed bars, stale quotes on purpose, bounded bars, options."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.sim.bars import SimBar, to_units
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sim.options import OptionChain, OptionMarket
from ordergate.adapters.sim.testing import SimMarketDataHarness
from ordergate.application.testing.harness import MarketDataHarness
from ordergate.domain.errors import BrokerRejected, BrokerTimeout, InvalidValue
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.ports.market_data import MarketData

T = 1.0
AAPL = Stock("AAPL")
OPEN = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # 09:30 New York


def minute_bars(count: int, start: datetime = OPEN, price: str = "100") -> list[SimBar]:
    units = to_units(Decimal(price))
    return [
        SimBar(AAPL.id, start + timedelta(minutes=i), start + timedelta(minutes=i + 1),
               units + 100 * i, units + 100 * i + 500, units + 100 * i - 500, units + 100 * i + 100,
               1000 + i)
        for i in range(count)
    ]


def source(now: datetime, bars: list[SimBar]) -> SimMarketData:
    market_data = SimMarketData(SimClock(now))
    market_data.set_bars(AAPL, bars)
    return market_data


async def test_sim_market_data_satisfies_the_port_and_its_harness_the_protocol() -> None:
    harness = await SimMarketDataHarness.create()
    assert isinstance(harness.market_data, MarketData)
    typed: MarketDataHarness = harness
    assert AAPL.id == typed.stock.id


async def test_quote_is_the_last_finished_bar_with_a_one_tick_spread() -> None:
    market_data = source(OPEN + timedelta(minutes=3, seconds=30), minute_bars(10))
    quote = await market_data.quote(AAPL, timeout=T)
    # bars 0..2 have ended; bar 2 closes at 100.03
    assert (Decimal("100.025"), Decimal("100.035"), Decimal("100.03")) == (
        quote.bid, quote.ask, quote.last)
    assert OPEN + timedelta(minutes=3) == quote.ts
    assert Decimal(1000 + 1001 + 1002) == quote.volume


async def test_a_frozen_quote_goes_stale_as_the_clock_runs() -> None:
    clock = SimClock(OPEN + timedelta(minutes=2))
    market_data = SimMarketData(clock)
    market_data.set_bars(AAPL, minute_bars(30))
    market_data.freeze(AAPL)
    clock.advance(600)
    quote = await market_data.quote(AAPL, timeout=T)
    assert timedelta(minutes=10) == quote.age(clock.now())


async def test_a_quote_set_with_an_age_reports_that_age() -> None:
    harness = await SimMarketDataHarness.create()
    await harness.set_quote(harness.stock, Decimal("187.5"), 400)
    quote = await harness.market_data.quote(harness.stock, timeout=T)
    assert timedelta(seconds=400) == quote.age(await harness.now())
    assert Decimal("187.5") == quote.last


async def test_bars_cover_end_minus_duration_and_never_the_future() -> None:
    now = OPEN + timedelta(minutes=20)
    market_data = source(now, minute_bars(60))
    bars = await market_data.bars(AAPL, end=OPEN + timedelta(minutes=60),
                                  duration=timedelta(minutes=30), timeout=T)
    assert [] == bars  # minutes 30-59 have not happened yet at 09:50
    bars = await market_data.bars(AAPL, end=now, duration=timedelta(minutes=5), timeout=T)
    assert [OPEN + timedelta(minutes=m) for m in range(15, 20)] == [b.ts for b in bars]


async def test_bars_aggregate_to_a_multiple_of_the_stored_size() -> None:
    market_data = source(OPEN + timedelta(hours=1), minute_bars(60))
    bars = await market_data.bars(AAPL, end=OPEN + timedelta(minutes=10),
                                  duration=timedelta(minutes=10), bar_size=timedelta(minutes=5),
                                  timeout=T)
    assert 2 == len(bars)
    first = bars[0]
    assert (Decimal(100), Decimal("100.09"), Decimal("99.95"), Decimal("100.05")) == (
        first.open, first.high, first.low, first.close)
    assert Decimal(sum(1000 + i for i in range(5))) == first.volume


async def test_rth_only_drops_bars_outside_the_session() -> None:
    early = OPEN - timedelta(minutes=5)
    market_data = source(OPEN + timedelta(minutes=10), minute_bars(15, start=early))
    rth = await market_data.bars(AAPL, end=OPEN + timedelta(minutes=10),
                                 duration=timedelta(minutes=15), timeout=T)
    everything = await market_data.bars(AAPL, end=OPEN + timedelta(minutes=10),
                                        duration=timedelta(minutes=15), rth_only=False, timeout=T)
    assert (10, 15) == (len(rth), len(everything))


async def test_a_request_beyond_the_bound_is_refused() -> None:
    market_data = SimMarketData(SimClock(OPEN), max_duration=timedelta(hours=1))
    market_data.set_bars(AAPL, minute_bars(5))
    with pytest.raises(InvalidValue):
        await market_data.bars(AAPL, end=OPEN, duration=timedelta(hours=2), timeout=T)


async def test_unknown_instruments_are_rejected_and_stalls_time_out() -> None:
    harness = await SimMarketDataHarness.create()
    with pytest.raises(BrokerRejected):
        await harness.market_data.quote(harness.unknown, timeout=T)
    await harness.stall(5)
    with pytest.raises(BrokerTimeout):
        await harness.market_data.quote(harness.stock, timeout=0.01)


async def test_option_quotes_come_from_black_scholes_at_the_underlying() -> None:
    contract = OptionContract("AAPL", date(2024, 1, 19), Decimal(100), OptionRight.CALL)
    chain = OptionChain(AAPL, (contract.expiry,), (contract.strike,), Decimal("0.3"))
    clock = SimClock(OPEN + timedelta(minutes=5))
    market_data = SimMarketData(clock, options=OptionMarket([chain]))
    market_data.set_bars(AAPL, minute_bars(5))
    quote = await market_data.quote(contract, timeout=T)
    spot = Decimal("100.05")
    assert chain.price(contract, spot, clock.now()) == quote.last
    assert OPEN + timedelta(minutes=5) == quote.ts


async def test_each_stored_bar_becomes_a_domain_bar_once_for_every_request() -> None:
    stored = minute_bars(30)
    market_data = source(OPEN + timedelta(minutes=30), stored)
    first = await market_data.bars(
        AAPL, end=OPEN + timedelta(minutes=20), duration=timedelta(minutes=20), timeout=T
    )
    # a sliding window: the bars both windows share are the very same objects, not new copies
    later = await market_data.bars(
        AAPL, end=OPEN + timedelta(minutes=30), duration=timedelta(minutes=20), timeout=T
    )
    assert [bar.ts for bar in first] == [b.ts for b in stored[:20]]
    assert [bar.ts for bar in later] == [b.ts for b in stored[10:30]]
    assert all(a is b for a, b in zip(first[10:], later[:10], strict=True))
    assert [bar.close for bar in later] == [b.to_bar().close for b in stored[10:30]]
    # replacing the history starts afresh
    market_data.set_bars(AAPL, minute_bars(30, price="200"))
    again = await market_data.bars(
        AAPL, end=OPEN + timedelta(minutes=30), duration=timedelta(minutes=20), timeout=T
    )
    replaced = minute_bars(30, price="200")[10:]
    assert [bar.close for bar in again] == [b.to_bar().close for b in replaced]


async def test_a_window_that_starts_on_an_early_close_still_returns_the_daily_bars() -> None:
    # 2012-07-03 closed at 13:00 New York: its daily bar spans 3.5 hours, the others 6.5 hours.
    # A window starting on it used to take 3:30 for the stored size and refuse the 6:30 request
    # (`ordergate run` stopped with "bars.bar_size: must be a multiple of 3:30:00").
    days = [date(2012, 7, 3), date(2012, 7, 5), date(2012, 7, 6), date(2012, 7, 9)]
    stored = []
    for n, day in enumerate(days):
        opens = datetime(day.year, day.month, day.day, 13, 30, tzinfo=UTC)
        span = timedelta(hours=3, minutes=30) if n == 0 else timedelta(hours=6, minutes=30)
        units = to_units(Decimal(100 + n))
        stored.append(SimBar(AAPL.id, opens, opens + span, units, units + 100, units - 100,
                             units, 1000))
    market_data = source(datetime(2012, 7, 10, 12, 0, tzinfo=UTC), stored)
    bars = await market_data.bars(
        AAPL, end=datetime(2012, 7, 10, tzinfo=UTC), duration=timedelta(days=10),
        bar_size=timedelta(hours=6, minutes=30), timeout=T,
    )
    assert [b.ts for b in stored] == [b.ts for b in bars]
    assert [timedelta(hours=3, minutes=30)] + [timedelta(hours=6, minutes=30)] * 3 == [
        b.duration for b in bars
    ]
