"""One complete trading session with the unmodified ib_async `IB()` API (not through ordergate's
adapter) against the TWS gateway emulator over a loopback socket: connect, qualify, a bracket
whose take-profit fills and whose stop-loss is cancelled, a trailing stop, modify, cancel, a 201
reject, positions, executions with commissions, account summary, PnL, a snapshot ticker and
historical bars — and ib_async logs no decode error.

The emulator's own tests (`test_gateway_sim_*.py`) cover each message in isolation; this is the
end-to-end session an IB user would run, in one place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock, Trade

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

pytestmark = pytest.mark.timeout(60)

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


async def test_a_full_ib_async_session_against_the_emulator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ib_async")
    engine = InstantEngine(accounts=(ACCOUNT,))
    async with GatewayServer(engine) as server:
        ib = IB()
        errors: list[tuple[int, int]] = []
        ib.errorEvent += lambda req_id, code, text, contract: errors.append((req_id, code))
        await ib.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        try:
            assert [ACCOUNT] == ib.managedAccounts()

            # qualify
            (aapl,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
            assert AAPL_ID == aapl.conId

            # a bracket: the parent fills, the take-profit fills, the stop-loss is cancelled
            bracket = ib.bracketOrder("BUY", 10, 191.0, takeProfitPrice=195.0,
                                      stopLossPrice=185.0)
            parent, take_profit, stop_loss = (ib.placeOrder(aapl, o) for o in bracket)
            await status(parent, "Filled")
            await status(take_profit, "Submitted")
            engine.set_price(AAPL_ID, Decimal("195.50"))
            await status(take_profit, "Filled")
            await status(stop_loss, "Cancelled")
            assert [] == stop_loss.fills

            # a trailing stop by amount follows the price up, then triggers
            await status(ib.placeOrder(aapl, MarketOrder("BUY", 10)), "Filled")
            trail = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10,
                                              orderType="TRAIL", auxPrice=2.0))
            await status(trail, "Submitted")
            engine.set_price(AAPL_ID, Decimal("197.00"))  # the stop rises to 195.00
            engine.set_price(AAPL_ID, Decimal("195.20"))
            await asyncio.sleep(0.05)
            assert "Submitted" == trail.orderStatus.status
            engine.set_price(AAPL_ID, Decimal("194.90"))
            await status(trail, "Filled")
            assert 194.89 == trail.fills[0].execution.price  # the bid

            # modify, then cancel, a resting limit order
            resting = ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.0))
            await status(resting, "Submitted")
            resting.order.lmtPrice = 155.0
            ib.placeOrder(aapl, resting.order)
            await until(lambda: resting.log[-1].message == "Modified")
            assert 155.0 == resting.order.lmtPrice
            ib.cancelOrder(resting.order)
            await status(resting, "Cancelled")

            # a rejection (error 201)
            server.reject_next_order("margin check failed")
            refused = ib.placeOrder(aapl, LimitOrder("BUY", 1, 180.0))
            await status(refused, "Cancelled")
            assert (refused.order.orderId, 201) in errors
            assert 201 == refused.log[-1].errorCode

            # positions, executions with commissions
            await status(ib.placeOrder(aapl, MarketOrder("BUY", 3)), "Filled")
            positions = await within(ib.reqPositionsAsync())
            assert [(ACCOUNT, AAPL_ID, 3.0)] == [
                (p.account, p.contract.conId, p.position) for p in positions]
            await until(lambda: all(f.commissionReport.commission > 0 for f in ib.fills()))
            live = {f.execution.execId for f in ib.fills()}
            assert 5 == len(live)  # parent, take-profit, buy 10, trailing stop, buy 3
            reported = {f.execution.execId for f in await within(ib.reqExecutionsAsync())}
            assert live == reported

            # account summary and PnL
            summary = {v.tag: v.value for v in await within(ib.accountSummaryAsync(ACCOUNT))}
            assert {"TotalCashValue", "NetLiquidation", "BuyingPower"} <= set(summary)
            pnl = ib.reqPnL(ACCOUNT)
            await until(lambda: pnl.realizedPnL == pnl.realizedPnL)  # not NaN: an update came
            assert pnl.realizedPnL > 0  # the take-profit made money

            # a snapshot ticker leaves no subscription at the emulator
            (ticker,) = await within(ib.reqTickersAsync(aapl))
            assert 194.90 == ticker.last
            assert {} == server.sessions[1].subscriptions.market_data

            # historical bars (one RTH hour of 1-minute bars)
            end = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
            bars = await within(ib.reqHistoricalDataAsync(
                aapl, end, "3600 S", "1 min", "TRADES", True, formatDate=2, timeout=0))
            assert 60 == len(bars)
            assert all(b.low <= b.open <= b.high and b.low <= b.close <= b.high for b in bars)
        finally:
            ib.disconnect()
    decode_errors = [r.getMessage() for r in caplog.get_records("call")
                     if r.name == "ib_async.Decoder" or "No order found" in r.getMessage()]
    assert [] == decode_errors
