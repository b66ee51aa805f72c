"""FakeMarketData: quotes with their age, bar windows, limits and what it received."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.testing import HARNESS_START, harness_instruments
from ordergate.application.testing.contracts.market_data import SESSION_OPEN, minute_bars
from ordergate.domain.errors import InvalidValue

STOCK, OPTION, _ = harness_instruments()
T = 1.0


def make(max_duration: timedelta | None = None) -> FakeMarketData:
    return FakeMarketData(FakeClock(HARNESS_START), [STOCK, OPTION], max_duration=max_duration)


async def test_make_stale_ages_the_current_quote() -> None:
    market = make()
    market.set_price(STOCK, Decimal(10))
    market.make_stale(STOCK, timedelta(minutes=10))
    quote = await market.quote(STOCK, timeout=T)
    assert (Decimal(10), timedelta(minutes=10)) == (quote.last, quote.age(HARNESS_START))


async def test_instrument_without_a_quote_has_every_field_missing() -> None:
    quote = await make().quote(OPTION, timeout=T)
    assert (None, None, None) == (quote.bid, quote.ask, quote.last)


async def test_rth_only_leaves_out_premarket_bars() -> None:
    market = make()
    premarket = SESSION_OPEN - timedelta(minutes=30)
    market.set_bars(STOCK, minute_bars(STOCK.id, premarket, 60))
    end, duration = SESSION_OPEN + timedelta(minutes=30), timedelta(hours=1)
    rth = await market.bars(STOCK, end=end, duration=duration, timeout=T)
    everything = await market.bars(STOCK, end=end, duration=duration, rth_only=False, timeout=T)
    assert (30, 60) == (len(rth), len(everything))
    assert SESSION_OPEN == rth[0].ts


async def test_bars_of_another_size_are_not_returned() -> None:
    market = make()
    market.set_bars(STOCK, minute_bars(STOCK.id, SESSION_OPEN, 10))
    bars = await market.bars(
        STOCK,
        end=SESSION_OPEN + timedelta(hours=1),
        duration=timedelta(hours=1),
        bar_size=timedelta(minutes=5),
        timeout=T,
    )
    assert [] == bars


async def test_requests_beyond_the_limit_or_malformed_are_refused() -> None:
    market = make(max_duration=timedelta(hours=1))
    with pytest.raises(InvalidValue):
        await market.bars(STOCK, end=SESSION_OPEN, duration=timedelta(hours=2), timeout=T)
    with pytest.raises(InvalidValue):
        await market.bars(
            STOCK,
            end=datetime(2024, 3, 5, 10),
            duration=timedelta(hours=1),
            timeout=T,
        )
    with pytest.raises(InvalidValue):
        market.set_bars(STOCK, minute_bars(OPTION.id, SESSION_OPEN, 1))


async def test_calls_are_recorded() -> None:
    market = make()
    await market.quote(STOCK, timeout=T)
    assert [("quote", STOCK)] == [(c.method, c.argument("instrument")) for c in market.calls]
