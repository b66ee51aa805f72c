"""Issue #9 item 7 over a real socket: `flatten` through the IBKR adapter (ib_async, client id 3)
cancels a working order that *another* IB client (a raw ib_async `IB()` with client id 7) placed,
then closes the account's net position — and the foreign order can no longer fill.

IB lets a client cancel only its own orders by id; the adapter uses the global cancel
(reqGlobalCancel) and reads every client's open orders (reqAllOpenOrders). Before the fix the
adapter saw only its own client's orders, so the foreign SELL 10 survived flatten and its fill
left the account short 10.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, MarketOrder
from ib_async import Stock as IbStock

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.adapters.ibkr import IbkrBroker, IbkrMarketData
from ordergate.adapters.ibkr.harness_engine import HarnessClock, HarnessEngine
from ordergate.adapters.ibkr.testing import (
    HARNESS_ACCOUNT,
    HARNESS_START,
    RecordingGatewayServer,
    harness_config,
)
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.instruments import Stock

pytestmark = pytest.mark.timeout(60)

FOREIGN_CLIENT = 7
CLI_CLIENT = 3


async def until(predicate: object, seconds: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), seconds)


def positions(engine: HarnessEngine) -> dict[str, Decimal]:
    return {p.contract.symbol: p.quantity for p in engine.positions(HARNESS_ACCOUNT)}


async def test_flatten_cancels_another_clients_order_then_closes_the_position() -> None:
    engine = HarnessEngine(HarnessClock(HARNESS_START), accounts=(HARNESS_ACCOUNT,))
    server = RecordingGatewayServer(engine, host="127.0.0.1", port=0)
    await server.start()
    aapl_id = engine.con_id(Stock("AAPL"))
    engine.set_price(aapl_id, Decimal(100))
    foreign = IB()
    try:
        await foreign.connectAsync("127.0.0.1", server.port, clientId=FOREIGN_CLIENT, timeout=5)
        (aapl,) = await foreign.qualifyContractsAsync(IbStock("AAPL", "SMART", "USD"))
        bought = foreign.placeOrder(aapl, MarketOrder("BUY", 10))
        await until(lambda: bought.orderStatus.status == "Filled")
        take_profit = foreign.placeOrder(aapl, LimitOrder("SELL", 10, 110.0))
        await until(lambda: take_profit.orderStatus.status == "Submitted")
        assert positions(engine) == {"AAPL": Decimal(10)}

        broker = IbkrBroker(harness_config(server.port, client_id=CLI_CLIENT))
        ports = Ports(
            broker,
            IbkrMarketData.from_broker(broker),
            InMemoryAuditLog(),
            SystemClock(),
            InMemoryPublisher(),
            InMemoryTradingControl(),
        )
        async with OrderGate(ports, GateOptions(operator_id="CT")) as gate:
            report = await gate.flatten()
            await gate.settle()
            await broker.sync(timeout=5)
        await broker.close()

        assert [(v.side.value, v.leaves_qty) for v in report.cancelled] == [("SELL", Decimal(10))]
        assert report.still_working == ()
        assert report.ok, report
        await until(lambda: take_profit.orderStatus.status == "Cancelled")
        assert list(engine.open_orders()) == []
        assert positions(engine).get("AAPL", Decimal(0)) == 0
        engine.set_price(aapl_id, Decimal(111))  # the old take-profit's price trades
        assert positions(engine).get("AAPL", Decimal(0)) == 0  # flat, not short 10
    finally:
        foreign.disconnect()
        server.close()
        await server.wait_closed()
