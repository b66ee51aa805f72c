"""Orders, fills, positions, account and PnL through the TWS gateway emulator, with ib_async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from ib_async import (
    IB,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    Stock,
    StopLimitOrder,
    StopOrder,
    Trade,
)

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

T = TypeVar("T")
ACCOUNT = "DU1234567"
AAPL_ID = 265598


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """Await with a bound, so a protocol bug fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait (bounded) until `predicate()` holds."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await within(poll(), seconds)


async def status(trade: Trade, expected: str) -> None:
    await until(lambda: trade.orderStatus.status == expected)


@pytest.fixture(autouse=True)
def no_decode_errors(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO, logger="ib_async")
    yield
    bad = [
        r.getMessage() for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR
        and (r.name == "ib_async.Decoder" or "No order found" in r.getMessage())
    ]
    assert bad == []


@pytest.fixture
def engine() -> InstantEngine:
    return InstantEngine(accounts=(ACCOUNT,))


@pytest.fixture
async def server(engine: InstantEngine) -> AsyncIterator[GatewayServer]:
    async with GatewayServer(engine) as srv:
        yield srv


@pytest.fixture
async def ib(server: GatewayServer) -> AsyncIterator[IB]:
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    yield client
    client.disconnect()


@pytest.fixture
async def aapl(ib: IB) -> Stock:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    return stock


async def test_a_market_order_fills_at_the_ask_with_a_commission(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    await until(lambda: trade.fills and trade.fills[0].commissionReport.commission > 0)
    (fill,) = trade.fills
    assert (fill.execution.side, fill.execution.shares, fill.execution.price) == (
        "BOT", 100.0, 190.01)
    assert (fill.commissionReport.commission, fill.commissionReport.currency) == (1.0, "USD")
    assert (trade.orderStatus.filled, trade.orderStatus.avgFillPrice) == (100.0, 190.01)


async def test_fills_and_positions_are_visible_to_the_client(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    await until(lambda: bool(ib.positions()))
    (position,) = ib.positions()
    assert (position.account, position.contract.conId, position.position) == (
        ACCOUNT, AAPL_ID, 100.0)
    assert position.avgCost == pytest.approx(190.01)
    assert [f.execution.execId for f in ib.fills()] == [trade.fills[0].execution.execId]


async def test_a_limit_order_rests_until_marketable(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 185.0))
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("184.50"))
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 184.51


async def test_modifying_a_limit_order_is_acknowledged_with_submitted(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 180.0))
    await status(trade, "Submitted")
    trade.order.lmtPrice = 181.0
    ib.placeOrder(aapl, trade.order)
    await until(lambda: trade.log[-1].message == "Modified")
    (resting,) = engine.open_orders()
    assert resting.spec.limit_price == Decimal(181)


async def test_modifying_to_a_marketable_price_fills(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("SELL", 10, 200.0))
    await status(trade, "Submitted")
    trade.order.lmtPrice = 189.0
    ib.placeOrder(aapl, trade.order)
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 189.99


async def test_cancelling_a_working_order(ib: IB, aapl: Stock, engine: InstantEngine) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.0))
    await status(trade, "Submitted")
    ib.cancelOrder(trade.order)
    await status(trade, "Cancelled")
    assert engine.open_orders() == []


async def test_a_stop_order_triggers_on_the_last_price(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    trade = ib.placeOrder(aapl, StopOrder("SELL", 10, 185.0))
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("186.00"))
    await asyncio.sleep(0.05)
    assert trade.orderStatus.status == "Submitted"
    engine.set_price(AAPL_ID, Decimal("184.90"))
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 184.89


async def test_a_stop_limit_order_respects_its_limit_after_triggering(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    trade = ib.placeOrder(aapl, StopLimitOrder("BUY", 10, 195.50, 195.0))
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("196.00"))  # triggers; ask 196.01 is above the limit
    await asyncio.sleep(0.05)
    assert trade.orderStatus.status == "Submitted"
    engine.set_price(AAPL_ID, Decimal("195.40"))
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 195.41


async def test_a_trailing_stop_ratchets_with_the_price(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    trade = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10, orderType="TRAIL",
                                      auxPrice=2.0))
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("200.00"))  # stop moves up to 198
    engine.set_price(AAPL_ID, Decimal("198.50"))
    await asyncio.sleep(0.05)
    assert trade.orderStatus.status == "Submitted"
    engine.set_price(AAPL_ID, Decimal("197.90"))
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 197.89


async def test_a_trailing_stop_reports_the_stop_in_force(
    ib: IB, aapl: Stock, engine: InstantEngine, server: GatewayServer
) -> None:
    trade = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10, orderType="TRAIL",
                                      auxPrice=2.0))
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("200.00"))  # the stop ratchets up to 198
    # ib_async keeps its own Order for its own trades; another client reads the one IB sends.
    other = IB()
    await other.connectAsync("127.0.0.1", server.port, clientId=2, timeout=5)
    try:
        orders = await within(other.reqAllOpenOrdersAsync())
        [reported] = [t for t in orders if t.order.permId == trade.order.permId]
        assert reported.order.trailStopPrice == 198.0
    finally:
        other.disconnect()


async def test_a_trailing_stop_limit_by_percent(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    order = Order(action="SELL", totalQuantity=10, orderType="TRAIL LIMIT",
                  trailingPercent=1.0, lmtPriceOffset=0.5)
    trade = ib.placeOrder(aapl, order)
    await status(trade, "Submitted")
    engine.set_price(AAPL_ID, Decimal("187.90"))  # below 190 × 0.99 = 188.10: triggers
    await status(trade, "Filled")
    assert trade.fills[0].execution.price == 187.89  # above the 187.60 limit


async def test_a_bracket_works_its_children_after_the_parent_fills(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    bracket = ib.bracketOrder("BUY", 10, 191.0, takeProfitPrice=195.0, stopLossPrice=185.0)
    parent, take_profit, stop_loss = (ib.placeOrder(aapl, o) for o in bracket)
    await status(parent, "Filled")
    await status(take_profit, "Submitted")
    await status(stop_loss, "Submitted")
    engine.set_price(AAPL_ID, Decimal("195.50"))
    await status(take_profit, "Filled")
    await status(stop_loss, "Cancelled")
    await until(lambda: ib.positions() == [])  # flat again: ib_async drops zero positions


async def test_untransmitted_orders_are_held_until_a_child_transmits(
    ib: IB, aapl: Stock
) -> None:
    bracket = ib.bracketOrder("BUY", 10, 180.0, takeProfitPrice=195.0, stopLossPrice=175.0)
    parent = ib.placeOrder(aapl, bracket.parent)
    await status(parent, "PreSubmitted")
    take_profit = ib.placeOrder(aapl, bracket.takeProfit)
    await asyncio.sleep(0.05)
    assert parent.orderStatus.status == "PreSubmitted"
    stop_loss = ib.placeOrder(aapl, bracket.stopLoss)
    await status(parent, "Submitted")
    assert take_profit.orderStatus.status == "PreSubmitted"
    assert stop_loss.orderStatus.status == "PreSubmitted"


async def test_cancelling_a_bracket_parent_cancels_its_children(ib: IB, aapl: Stock) -> None:
    bracket = ib.bracketOrder("BUY", 10, 180.0, takeProfitPrice=195.0, stopLossPrice=175.0)
    parent, take_profit, stop_loss = (ib.placeOrder(aapl, o) for o in bracket)
    await status(parent, "Submitted")
    ib.cancelOrder(parent.order)
    await status(take_profit, "Cancelled")
    await status(stop_loss, "Cancelled")


async def test_an_oca_group_cancels_the_others_when_one_fills(
    ib: IB, aapl: Stock, engine: InstantEngine
) -> None:
    orders = ib.oneCancelsAll([LimitOrder("BUY", 10, 185.0), LimitOrder("BUY", 10, 180.0)],
                              "oca-1", 1)
    near, far = (ib.placeOrder(aapl, o) for o in orders)
    await status(far, "Submitted")
    engine.set_price(AAPL_ID, Decimal("184.00"))
    await status(near, "Filled")
    await status(far, "Cancelled")


async def test_an_ioc_order_that_cannot_fill_is_cancelled(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.0, tif="IOC"))
    await status(trade, "Cancelled")


async def test_an_order_beyond_the_funds_is_rejected_with_201(ib: IB, aapl: Stock) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1_000_000))
    await status(trade, "Cancelled")
    assert codes == [201]


async def test_an_unsupported_order_type_is_rejected_with_201(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=1, orderType="MOC"))
    await status(trade, "Cancelled")
    assert trade.log[-1].errorCode == 201


async def test_an_order_for_an_unknown_contract_is_rejected_with_200(ib: IB) -> None:
    trade = ib.placeOrder(Stock("NOSUCH", "SMART", "USD"), MarketOrder("BUY", 1))
    await status(trade, "Cancelled")
    assert trade.log[-1].errorCode == 200


async def test_what_if_reports_margin_and_commission(ib: IB, aapl: Stock) -> None:
    state = await within(ib.whatIfOrderAsync(aapl, MarketOrder("BUY", 100)))
    assert float(state.initMarginChange) == pytest.approx(9500.5)
    assert state.commission == 1.0


async def test_an_option_order_fills_and_positions_carry_the_multiplier(
    ib: IB, engine: InstantEngine
) -> None:
    expiry = min(s.instrument.expiry for s in engine.catalogue if s.under_con_id)  # type: ignore[union-attr]
    (call,) = await within(ib.qualifyContractsAsync(
        Option("AAPL", expiry.strftime("%Y%m%d"), 190, "C", "SMART")))
    trade = ib.placeOrder(call, MarketOrder("BUY", 2))
    await status(trade, "Filled")
    (position,) = await within(ib.reqPositionsAsync())
    price = trade.fills[0].execution.price
    assert position.avgCost == pytest.approx(price * 100)
    await until(lambda: trade.fills[0].commissionReport.commission > 0)
    assert trade.fills[0].commissionReport.commission == pytest.approx(1.3)  # 2 × $0.65


async def test_account_summary_reflects_fills(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    summary = {v.tag: v.value for v in await within(ib.accountSummaryAsync(ACCOUNT))}
    assert summary["TotalCashValue"] == "980998.00"  # 1,000,000 - 100 × 190.01 - 1.00
    assert summary["GrossPositionValue"] == "19000.00"
    assert summary["NetLiquidation"] == "999998.00"


async def test_account_values_stream_to_the_startup_subscription(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    await until(lambda: any(
        v.tag == "TotalCashValue" and v.value == "980998.00" for v in ib.accountValues()))
    await until(lambda: bool(ib.portfolio()))
    assert ib.portfolio()[0].position == 100.0


async def test_pnl_subscription_updates_after_a_fill(ib: IB, aapl: Stock) -> None:
    pnl = ib.reqPnL(ACCOUNT)
    await until(lambda: pnl.dailyPnL == 0.0)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    await until(lambda: pnl.dailyPnL == -2.0)  # bought at the ask, marked at the mid, $1 fee
    assert pnl.unrealizedPnL == -1.0


async def test_single_position_pnl(ib: IB, aapl: Stock) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await status(trade, "Filled")
    single = ib.reqPnLSingle(ACCOUNT, "", AAPL_ID)
    await until(lambda: single.position == 100)
    assert (single.unrealizedPnL, single.value) == (-1.0, 19000.0)


async def test_completed_orders_list_filled_and_cancelled(ib: IB, aapl: Stock) -> None:
    filled = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    cancelled = ib.placeOrder(aapl, LimitOrder("BUY", 1, 100.0))
    await status(filled, "Filled")
    await status(cancelled, "Submitted")
    ib.cancelOrder(cancelled.order)
    await status(cancelled, "Cancelled")
    done = await within(ib.reqCompletedOrdersAsync(False))
    assert sorted(t.orderStatus.status for t in done) == ["Cancelled", "Filled"]


async def test_global_cancel_cancels_every_working_order(ib: IB, aapl: Stock) -> None:
    trades = [ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.0 + i)) for i in range(3)]
    for trade in trades:
        await status(trade, "Submitted")
    ib.reqGlobalCancel()
    for trade in trades:
        await status(trade, "Cancelled")


async def test_a_reconnecting_client_gets_its_orders_and_fills_back(
    server: GatewayServer, aapl: Stock, ib: IB
) -> None:
    filled = ib.placeOrder(aapl, MarketOrder("BUY", 5))
    working = ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.0))
    await status(filled, "Filled")
    await status(working, "Submitted")
    ib.disconnect()
    await until(lambda: 1 not in server.sessions)
    again = IB()
    await again.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    try:
        assert [t.order.orderId for t in again.openTrades()] == [working.order.orderId]
        assert [f.execution.execId for f in again.fills()] == [
            filled.fills[0].execution.execId]
        assert again.fills()[0].commissionReport.commission == 1.0
        assert again.client.getReqId() > working.order.orderId
    finally:
        again.disconnect()


async def test_another_client_sees_the_executions_but_not_the_live_events(
    server: GatewayServer, ib: IB, aapl: Stock
) -> None:
    observer = IB()
    await observer.connectAsync("127.0.0.1", server.port, clientId=2, timeout=5)
    try:
        seen: list[Any] = []
        observer.execDetailsEvent += lambda trade, fill: seen.append(fill)
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
        await status(trade, "Filled")
        fills = await within(observer.reqExecutionsAsync())
        assert [f.execution.clientId for f in fills] == [1]
        assert seen == []
    finally:
        observer.disconnect()
