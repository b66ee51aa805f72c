"""Regression tests for the alpha learnings of seed 001 §11, through the IBKR adapter, unmodified
ib_async and the TWS gateway emulator on a loopback socket — each checked on the wire:

- market data by snapshot only: no streaming subscription is ever left open;
- historical requests ≤ 1 hour of RTH bars: a longer one is refused before anything is sent
  (daily bars, which IB's small-bar pacing rules do not cover, up to a year in one request);
- timeouts propagate: every call against a stalled gateway raises `BrokerTimeout`, never hangs;
- contracts are qualified before any order: an unknown one never produces a placeOrder;
- operator id + client order id travel in `orderRef`; `Order.account` never holds the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ordergate.adapters.gateway_sim.request_types import PlaceOrder, ReqHistoricalData, ReqMktData
from ordergate.adapters.gateway_sim.requests import parse_request
from ordergate.adapters.ibkr.market_data import IbkrMarketData
from ordergate.adapters.ibkr.testing import HARNESS_ACCOUNT, IbkrBrokerHarness
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.errors import BrokerRejected, BrokerTimeout, InvalidValue
from ordergate.domain.orders import OrderRequest, OrderType
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, Side

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0
SESSION = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)  # 11:00 New York


@pytest.fixture
async def harness() -> AsyncIterator[IbkrBrokerHarness]:
    h = await IbkrBrokerHarness.create(operator_id="CSATSPRIM")
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
def market_data(harness: IbkrBrokerHarness) -> IbkrMarketData:
    return IbkrMarketData.from_broker(harness.ibkr)


def approved(request: OrderRequest) -> ApprovedOrder:
    return mint_approval_for_tests(request)


def limit_order(harness: IbkrBrokerHarness, cid: str, price: str = "150") -> ApprovedOrder:
    return approved(OrderRequest(
        ClientOrderId(cid), harness.stock, Side.BUY, Decimal(5), OrderType.LIMIT,
        limit_price=Decimal(price), operator_id="CSATSPRIM",
    ))


def placed(harness: IbkrBrokerHarness) -> list[PlaceOrder]:
    out = []
    for fields in harness.server.received(3):
        request = parse_request(list(fields), 178)
        assert isinstance(request, PlaceOrder)
        out.append(request)
    return out


# -- snapshot only ---------------------------------------------------------------------------------
async def test_quotes_are_snapshots_and_leave_no_subscription_open(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    await harness.set_price(harness.stock, Decimal("191.25"))
    for _ in range(3):
        quote = await market_data.quote(harness.stock, timeout=TIMEOUT)
        assert Decimal("191.25") == quote.last
    await market_data.quote(harness.option, timeout=TIMEOUT)
    requests = [parse_request(list(f), 178) for f in harness.server.received(1)]
    assert 4 == len(requests)
    assert all(isinstance(r, ReqMktData) and r.snapshot for r in requests)
    assert {1: {}} == harness.server.market_data_subscriptions()
    ib = harness.ibkr.connection.ib
    assert [] == ib.tickers()
    assert {} == dict(ib.wrapper.ticker2ReqId["mktData"])


async def test_a_timed_out_snapshot_is_cancelled_and_leaves_nothing_behind(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    await market_data.quote(harness.stock, timeout=TIMEOUT)  # qualified: the stall hits the quote
    await harness.stall(1.0)
    with pytest.raises(BrokerTimeout):
        await market_data.quote(harness.stock, timeout=0.1)
    assert [] == harness.ibkr.connection.ib.tickers()
    for _ in range(200):  # the cancelMktData for the abandoned snapshot is on its way
        if harness.server.received(2):
            break
        await asyncio.sleep(0.005)
    assert 1 == len(harness.server.received(2))


# -- historical ≤ 1 hour RTH -----------------------------------------------------------------------
async def test_more_than_one_hour_of_history_is_refused_before_anything_is_sent(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    with pytest.raises(InvalidValue, match="1 hour"):
        await market_data.bars(harness.stock, end=SESSION, duration=timedelta(minutes=61),
                               timeout=TIMEOUT)
    with pytest.raises(InvalidValue, match="regular-trading-hours"):
        await market_data.bars(harness.stock, end=SESSION, duration=timedelta(minutes=30),
                               rth_only=False, timeout=TIMEOUT)
    assert [] == harness.server.received(20)


async def test_daily_bars_are_one_request_dated_by_the_session_open(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    # IB's pacing limits concern small bars: a window of daily bars may span up to a year.
    bars = await market_data.bars(harness.stock, end=SESSION, duration=timedelta(days=120),
                                  bar_size=timedelta(days=1), timeout=TIMEOUT)
    (fields,) = harness.server.received(20)
    request = parse_request(list(fields), 178)
    assert isinstance(request, ReqHistoricalData)
    assert ("120 D", "1 day", True) == (request.duration, request.bar_size, request.use_rth)
    assert 60 < len(bars) <= 120
    new_york = ZoneInfo("America/New_York")
    assert {b.ts.astimezone(new_york).time() for b in bars} == {time(9, 30)}
    assert all(SESSION - timedelta(days=120) <= b.ts < SESSION for b in bars)
    assert all(b.duration == timedelta(days=1) for b in bars)
    with pytest.raises(InvalidValue, match="366 days"):
        await market_data.bars(harness.stock, end=SESSION, duration=timedelta(days=367),
                               bar_size=timedelta(days=1), timeout=TIMEOUT)
    assert 1 == len(harness.server.received(20))


async def test_daily_history_is_fetched_once_then_only_extended(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    # A session asks for the same 120-day window every day: the days already received are not
    # asked for again; only the last one kept (it may have been in progress) and the new ones.
    day = timedelta(days=1)
    windows = []
    for offset in (0, 1, 2, 5):
        end = SESSION + offset * day
        windows.append(await market_data.bars(harness.stock, end=end, duration=120 * day,
                                              bar_size=day, timeout=TIMEOUT))
    spans = [parse_request(list(f), 178).duration for f in harness.server.received(20)]
    first, *extensions = spans
    assert "120 D" == first
    assert all(int(span.split()[0]) <= 5 for span in extensions), spans
    # every answer is the window a fresh client gets with one full request
    fresh = IbkrMarketData.from_broker(harness.ibkr)
    for offset, got in zip((0, 1, 2, 5), windows, strict=True):
        fresh._daily.clear()  # a client that has kept nothing
        expected = await fresh.bars(harness.stock, end=SESSION + offset * day,
                                    duration=120 * day, bar_size=day, timeout=TIMEOUT)
        assert [(b.ts, b.close, b.volume) for b in expected] == [
            (b.ts, b.close, b.volume) for b in got
        ]
    # a window reaching further back than what is kept is fetched whole again
    await market_data.bars(harness.stock, end=SESSION, duration=200 * day, bar_size=day,
                           timeout=TIMEOUT)
    assert "200 D" == parse_request(list(harness.server.received(20)[-1]), 178).duration


async def test_one_hour_of_rth_bars_is_one_request(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData
) -> None:
    bars = await market_data.bars(harness.stock, end=SESSION, duration=timedelta(hours=1),
                                  timeout=TIMEOUT)
    assert 60 == len(bars)
    (fields,) = harness.server.received(20)
    request = parse_request(list(fields), 178)
    assert isinstance(request, ReqHistoricalData)
    assert ("3600 S", "1 min", True) == (request.duration, request.bar_size, request.use_rth)


# -- timeouts propagate ----------------------------------------------------------------------------
CALLS: dict[str, Callable[[IbkrBrokerHarness, IbkrMarketData], Awaitable[object]]] = {
    "qualify": lambda h, m: h.ibkr.qualify(h.option, timeout=0.2),
    "submit": lambda h, m: h.ibkr.submit(limit_order(h, "AL-T2"), timeout=0.2),
    "modify": lambda h, m: h.ibkr.modify(ClientOrderId("AL-T1"), limit_price=Decimal(151),
                                         timeout=0.2),
    "cancel": lambda h, m: h.ibkr.cancel(ClientOrderId("AL-T1"), timeout=0.2),
    "order_status": lambda h, m: h.ibkr.order_status(ClientOrderId("AL-T1"), timeout=0.2),
    "open_orders": lambda h, m: h.ibkr.open_orders(timeout=0.2),
    "positions": lambda h, m: h.ibkr.positions(timeout=0.2),
    "executions": lambda h, m: h.ibkr.executions(SESSION, timeout=0.2),
    "account_summary": lambda h, m: h.ibkr.account_summary(timeout=0.2),
    "quote": lambda h, m: m.quote(h.stock, timeout=0.2),
    "bars": lambda h, m: m.bars(h.stock, end=SESSION, duration=timedelta(minutes=5),
                                timeout=0.2),
}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_every_call_against_a_stalled_gateway_raises_broker_timeout(
    harness: IbkrBrokerHarness, market_data: IbkrMarketData, call: str
) -> None:
    await harness.ibkr.submit(limit_order(harness, "AL-T1"), timeout=TIMEOUT)
    await harness.stall(3.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BrokerTimeout) as raised:
        await CALLS[call](harness, market_data)
    assert loop.time() - started < 1.5
    assert "timeout=0.2" in str(raised.value)


# -- qualification before any order ---------------------------------------------------------------
async def test_an_unknown_contract_never_produces_a_place_order(
    harness: IbkrBrokerHarness,
) -> None:
    unknown = approved(OrderRequest(ClientOrderId("AL-Q1"), harness.unknown, Side.BUY,
                                    Decimal(1), OrderType.MARKET))
    with pytest.raises(BrokerRejected) as raised:
        await harness.ibkr.submit(unknown, timeout=TIMEOUT)
    assert 200 == raised.value.code
    assert [] == placed(harness)
    assert 1 == len(harness.server.received(9))  # the reqContractDetails that failed


async def test_the_contract_is_qualified_before_the_first_order(
    harness: IbkrBrokerHarness,
) -> None:
    await harness.ibkr.submit(limit_order(harness, "AL-Q2"), timeout=TIMEOUT)
    ids = [fields[0] for _, fields in harness.server.requests]
    assert ids.index("9") < ids.index("3")
    (order,) = placed(harness)
    assert 265598 == order.contract.con_id  # the qualified conId, not a bare symbol


# -- operator id in orderRef, never in Order.account -----------------------------------------------
async def test_operator_id_and_client_order_id_travel_in_order_ref(
    harness: IbkrBrokerHarness,
) -> None:
    await harness.set_price(harness.stock, Decimal(150))
    await harness.ibkr.submit(limit_order(harness, "AL-O1"), timeout=TIMEOUT)
    await harness.settle()
    (order,) = placed(harness)
    assert "CSATSPRIM:AL-O1" == order.order.order_ref
    assert "" == order.order.account  # IB routes to the only managed account
    (execution,) = harness.engine.executions()
    assert "CSATSPRIM:AL-O1" == execution.order_ref


async def test_a_configured_account_is_the_ib_account_code_not_the_operator() -> None:
    harness = await IbkrBrokerHarness.create(operator_id="CSATSPRIM", account=HARNESS_ACCOUNT)
    try:
        await harness.ibkr.submit(limit_order(harness, "AL-O2"), timeout=TIMEOUT)
        (order,) = placed(harness)
        assert (HARNESS_ACCOUNT, "CSATSPRIM:AL-O2") == (order.order.account, order.order.order_ref)
    finally:
        await harness.close()


def test_an_operator_id_that_would_break_the_order_ref_is_refused() -> None:
    from ordergate.adapters.ibkr.connection import IbkrConfig

    with pytest.raises(ValueError, match="operator_id"):
        IbkrConfig(operator_id="A:B")
    with pytest.raises(ValueError, match="operator_id"):
        IbkrConfig(operator_id=" ")
