"""The simulator's contract harnesses: what the port contract suites will drive."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ordergate.adapters.sim.testing import HARNESS_START, SimBrokerHarness, SimMarketDataHarness
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.application.testing.harness import BrokerHarness, MarketDataHarness
from ordergate.domain.market import Bar
from ordergate.domain.orders import ExecutionFill, OrderRequest, OrderType
from ordergate.domain.values import ClientOrderId, Side

T = 1.0


async def make_broker_harness() -> BrokerHarness:
    return await SimBrokerHarness.create()  # typed as the Protocol: mypy checks the structure


async def make_market_data_harness() -> MarketDataHarness:
    return await SimMarketDataHarness.create()


async def test_broker_harness_starts_connected_at_its_documented_time() -> None:
    harness = await make_broker_harness()
    assert harness.broker.is_connected()
    assert HARNESS_START == await harness.now()
    assert await harness.broker.qualify(harness.option, timeout=T) == harness.option


async def test_broker_harness_fill_limit_makes_partial_fills_per_price_update() -> None:
    harness = await make_broker_harness()
    stream = harness.broker.events()
    await harness.set_fill_limit(Decimal(4))
    request = OrderRequest(ClientOrderId("P"), harness.stock, Side.BUY, Decimal(10),
                           OrderType.LIMIT, limit_price=Decimal(100))
    approval = mint_approval_for_tests(request, HARNESS_START)
    await harness.broker.submit(approval, timeout=T)
    for price in ("100", "99.5", "99"):
        await harness.set_price(harness.stock, Decimal(price))
    await harness.settle()
    fills = []
    while stream._queue.qsize():  # type: ignore[attr-defined]
        event = await anext(stream)
        if isinstance(event, ExecutionFill):
            fills.append((event.quantity, event.price))
    assert [(Decimal(4), Decimal(100)), (Decimal(4), Decimal("99.5")),
            (Decimal(2), Decimal(99))] == fills


async def test_broker_harness_advance_moves_the_broker_clock() -> None:
    harness = await make_broker_harness()
    await harness.advance(90)
    assert HARNESS_START + timedelta(seconds=90) == await harness.now()
    await harness.close()
    assert not harness.broker.is_connected()


async def test_market_data_harness_bars_move_the_clock_to_the_last_bar() -> None:
    harness = await make_market_data_harness()
    start = await harness.now()
    bars = [
        Bar(harness.stock.id, start + timedelta(minutes=i), Decimal(100), Decimal(101),
            Decimal(99), Decimal(100), Decimal(10))
        for i in range(60)
    ]
    await harness.set_bars(harness.stock, bars)
    assert start + timedelta(minutes=60) == await harness.now()
    got = await harness.market_data.bars(harness.stock, end=await harness.now(),
                                         duration=timedelta(hours=1), timeout=T)
    assert bars == got
