"""`MarketDataContract`: the behaviour every `MarketData` adapter must show, as a test class.

Provide a `market_data_harness` fixture yielding a `MarketDataHarness` (and closing it) and
subclass the contract (see `contracts.broker` for the pattern). The suite uses only the harness,
the port and the domain; it must never depend on an adapter's internals.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.application.testing.harness import MarketDataHarness
from ordergate.domain.errors import BrokerRejected, BrokerTimeout
from ordergate.domain.market import Bar
from ordergate.domain.values import InstrumentId

__all__ = ["MarketDataContract", "minute_bars"]

TIMEOUT = 5.0
_TOLERANCE = 5.0  # seconds of slack for adapters whose clock runs in real time
SESSION_OPEN = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)  # 09:30 New York, a Tuesday


def minute_bars(instrument_id: InstrumentId, start: datetime, count: int) -> list[Bar]:
    """`count` one-minute bars from `start`, prices rising by one cent a minute."""
    bars = []
    for index in range(count):
        base = Decimal(100) + Decimal(index) / 100
        bars.append(
            Bar(
                instrument_id,
                ts=start + timedelta(minutes=index),
                open=base,
                high=base + Decimal("0.05"),
                low=base - Decimal("0.05"),
                close=base + Decimal("0.01"),
                volume=Decimal(1000 + index),
            )
        )
    return bars


class MarketDataContract:
    """Quote snapshots with their time, bounded bars, unknown instruments, timeouts."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    async def test_quote_carries_the_price_and_when_it_was_taken(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        await h.set_quote(h.stock, Decimal("100.25"), 0)
        quote = await h.market_data.quote(h.stock, timeout=TIMEOUT)
        now = await h.now()
        assert h.stock.id == quote.instrument_id
        assert Decimal("100.25") == quote.reference_price
        assert abs((now - quote.ts).total_seconds()) <= _TOLERANCE

    async def test_quote_age_reports_staleness(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        await h.set_quote(h.stock, Decimal("50"), 600)
        quote = await h.market_data.quote(h.stock, timeout=TIMEOUT)
        age = quote.age(await h.now()).total_seconds()
        assert 600 - _TOLERANCE <= age <= 600 + _TOLERANCE

    async def test_quote_values_are_decimal(self, market_data_harness: MarketDataHarness) -> None:
        h = market_data_harness
        await h.set_quote(h.stock, Decimal("12.34"), 0)
        quote = await h.market_data.quote(h.stock, timeout=TIMEOUT)
        for value in (quote.bid, quote.ask, quote.last, quote.volume):
            assert value is None or isinstance(value, Decimal)

    async def test_unknown_instrument_is_rejected(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        with pytest.raises(BrokerRejected):
            await h.market_data.quote(h.unknown, timeout=TIMEOUT)
        with pytest.raises(BrokerRejected):
            await h.market_data.bars(
                h.unknown,
                end=SESSION_OPEN + timedelta(hours=1),
                duration=timedelta(minutes=30),
                timeout=TIMEOUT,
            )

    async def test_bars_cover_the_window_oldest_first(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        await h.set_bars(h.stock, minute_bars(h.stock.id, SESSION_OPEN, 120))
        end = SESSION_OPEN + timedelta(minutes=60)
        duration = timedelta(minutes=30)
        bars = await h.market_data.bars(h.stock, end=end, duration=duration, timeout=TIMEOUT)
        assert [end - duration + timedelta(minutes=i) for i in range(30)] == [b.ts for b in bars]
        assert all(end - duration <= bar.ts < end for bar in bars)
        assert all(isinstance(bar.close, Decimal) for bar in bars)

    async def test_bars_outside_the_history_are_empty(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        await h.set_bars(h.stock, minute_bars(h.stock.id, SESSION_OPEN, 30))
        bars = await h.market_data.bars(
            h.stock, end=SESSION_OPEN, duration=timedelta(minutes=30), timeout=TIMEOUT
        )
        assert [] == bars

    async def test_stalled_call_raises_broker_timeout(
        self, market_data_harness: MarketDataHarness
    ) -> None:
        h = market_data_harness
        await h.set_quote(h.stock, Decimal("10"), 0)
        await h.stall(3.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BrokerTimeout):
            await h.market_data.quote(h.stock, timeout=0.1)
        assert loop.time() - started < 2.0
