"""Options held through expiry through IB: the whole gate on our IBKR adapter (the real ib_async
client over a loopback socket) against the gateway emulator replaying the bundled AAPL bars. The
emulator reports the in-the-money call's exercise as IB does — executions outside any order (the
option at price 0, 100 shares at the strike) and the position updates — and the out-of-the-money
put's lapse as its position disappearing; the adapter turns them into `OptionExercised` and
`OptionExpired`, and the portfolio, the broker and the audit log agree afterwards. The same
session on the in-process sim broker gives the same portfolio."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

from ib_async import IB, MarketOrder, Option
from ib_async import Stock as IbStock

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.gateway_sim.server import GatewayServer
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.ibkr.testing import harness_config
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.instruments import OptionContract, OptionRight
from ordergate.domain.orders import OrderRequest, OrderType
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

EXPIRY = date(2013, 2, 15)  # AAPL closed at 460.16
CALL = OptionContract("AAPL", EXPIRY, Decimal(440), OptionRight.CALL)
PUT = OptionContract("AAPL", EXPIRY, Decimal(430), OptionRight.PUT)
AAPL = InstrumentId("AAPL")
TIMEOUT = 10.0
D = Decimal


def options() -> GateOptions:
    return GateOptions(
        operator_id="EXPIRY",
        snapshot_window=timedelta(days=30),
        snapshot_bar_size=DAILY_BAR,
        staleness_seconds=3 * 86_400,
    )


async def test_itm_call_exercised_and_otm_put_lapsed_through_ib() -> None:
    sim = SimSession.build(["AAPL"], bars=14, warmup=5, seed=7)
    engine = SimGatewayEngine(sim)
    async with GatewayServer(engine, port=0) as server:
        ibkr = IbkrBroker(harness_config(server.port))
        audit = InMemoryAuditLog(clock=sim.clock)
        gate = OrderGate(
            Ports(ibkr, sim.market_data, audit, sim.clock, InMemoryPublisher()), options()
        )
        async with gate:
            for contract in (CALL, PUT):
                sim.list_option(contract)
                result = await gate.submit_request(
                    OrderRequest(ClientOrderId(f"OPEN-{contract.right.value}"), contract,
                                 Side.BUY, D(1), OrderType.MARKET)
                )
                assert result.status in (OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED)
                await ibkr.sync(timeout=TIMEOUT)
                await gate.settle()
            assert D(1) == gate.portfolio.position_qty(CALL.id)
            while (day := engine.upcoming_day()) is not None and day <= date(2013, 2, 20):
                engine.advance_day()
                await ibkr.sync(timeout=TIMEOUT)
                await gate.settle()
            broker_positions = await ibkr.positions(timeout=TIMEOUT)
            assert (await gate.verify_audit()).ok
            portfolio = gate.portfolio

            # The portfolio: both contracts gone, 100 AAPL bought at the strike.
            assert D(0) == portfolio.position_qty(CALL.id)
            assert D(0) == portfolio.position_qty(PUT.id)
            assert D(100) == portfolio.position_qty(AAPL)
            stock = portfolio.position(AAPL)
            assert stock is not None
            assert D(440) == stock.avg_open_price
            # The broker (IB's positions, through the adapter) and the simulator agree.
            assert [(AAPL, D(100))] == [(p.instrument.id, p.quantity) for p in broker_positions]
            assert sim.engine.ledger.cash == portfolio.cash
            # The audit: the exercise and the lapse, once each.
            records = [e.record for e in await InMemoryAuditLog(audit.store).query()]
            exercised = [r for r in records if r.kind == "broker.option_exercised"]
            expired = [r for r in records if r.kind == "broker.option_expired"]
            assert [CALL.id.value] == [r.payload["instrument"] for r in exercised]
            assert [PUT.id.value] == [r.payload["instrument"] for r in expired]
            assert "100" == exercised[0].payload["shares"]
            assert exercised[0].payload["underlying_price"] is None  # IB does not report it
            assert not [r for r in records if r.kind == "broker.event_error"]


async def test_the_emulator_reports_an_exercise_as_ib_does() -> None:
    """A raw ib_async client sees the exercise as two executions outside any order (the option
    sold at 0, the stock bought at the strike, order id 0, no orderRef) and the positions move."""
    sim = SimSession.build(["AAPL"], bars=14, warmup=5, seed=7)
    engine = SimGatewayEngine(sim)
    sim.list_option(CALL)
    async with GatewayServer(engine, port=0) as server:
        ib = IB()
        await ib.connectAsync("127.0.0.1", server.port, clientId=7, timeout=5)
        try:
            (option,) = await ib.qualifyContractsAsync(
                Option("AAPL", "20130215", 440.0, "C", "SMART", "100", "USD"))
            (aapl,) = await ib.qualifyContractsAsync(IbStock("AAPL", "SMART", "USD"))
            trade = ib.placeOrder(option, MarketOrder("BUY", 1))
            for _ in range(500):
                if trade.orderStatus.status == "Filled":
                    break
                await asyncio.sleep(0.01)
            while (day := engine.upcoming_day()) is not None and day <= date(2013, 2, 19):
                engine.advance_day()
            await ib.reqCurrentTimeAsync()
            legs = [f for f in ib.fills() if f.execution.orderId == 0]
            assert [(option.conId, "SLD", 1.0, 0.0), (aapl.conId, "BOT", 100.0, 440.0)] == [
                (f.contract.conId, f.execution.side, f.execution.shares, f.execution.price)
                for f in legs
            ]
            assert all(f.execution.orderRef == "" for f in legs)
            positions = {p.contract.conId: p.position for p in await ib.reqPositionsAsync()}
            assert {aapl.conId: 100.0} == {k: v for k, v in positions.items() if v}
            executions = {f.execution.execId for f in await ib.reqExecutionsAsync()}
            assert {f.execution.execId for f in legs} <= executions
        finally:
            ib.disconnect()
