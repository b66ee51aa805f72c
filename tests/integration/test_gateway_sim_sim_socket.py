"""The TWS gateway emulator driven by the sim matching engine (`SimGatewayEngine`) over a real
loopback socket: an unmodified ib_async client trades a replayed market through it, and our
`IbkrBroker` through the emulator fills exactly as the in-process `SimBroker` does on an
identically built `SimSession`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from ib_async import IB, MarketOrder, Option
from ib_async import Stock as IbStock

from ordergate.adapters.gateway_sim.server import GatewayServer
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.ibkr.testing import harness_config
from ordergate.adapters.sim.session import SimSession, atm_call
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.account import BrokerPosition
from ordergate.domain.instruments import (
    NEW_YORK,
    Instrument,
    OptionContract,
    Stock,
    quantize_price,
)
from ordergate.domain.orders import (
    ExecutionFill,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, InstrumentId, Side
from ordergate.ports.broker import Broker

T = TypeVar("T")
D = Decimal
SYMBOLS = ("AAPL", "MSFT", "IBM")
DAYS = 12
SEED = 5
START = Decimal(100_000)
TIMEOUT = 10.0
SCRIPT_IDS = ("m1", "l1", "b-e", "b-tp", "b-sl", "c1", "s1", "o1", "o2", "m2")


async def within(awaitable: Awaitable[T], seconds: float = TIMEOUT) -> T:
    """Await with a bound, so a protocol bug fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


async def until(predicate: Callable[[], bool], seconds: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await within(poll(), seconds)


def build() -> SimSession:
    return SimSession.build(SYMBOLS, bars=DAYS, seed=SEED, starting_cash=START)


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
async def emulator() -> AsyncIterator[GatewayServer]:
    async with GatewayServer(SimGatewayEngine(build()), port=0) as server:
        yield server


def sim_engine(server: GatewayServer) -> SimGatewayEngine:
    engine = server.engine
    assert isinstance(engine, SimGatewayEngine)
    return engine


# -- (a) a raw ib_async client ---------------------------------------------------------------------
async def test_an_ib_async_client_trades_a_replayed_market(emulator: GatewayServer) -> None:
    engine = sim_engine(emulator)
    account = engine.accounts()[0]
    ib = IB()
    await ib.connectAsync("127.0.0.1", emulator.port, clientId=7, timeout=5)
    try:
        (aapl,) = await within(ib.qualifyContractsAsync(IbStock("AAPL", "SMART", "USD")))
        spot = engine.session.engine.last_price(InstrumentId("AAPL"))
        assert spot is not None
        call = atm_call(Stock("AAPL"), spot[0], engine.now())
        assert call is not None
        (option,) = await within(ib.qualifyContractsAsync(Option(
            "AAPL", f"{call.expiry:%Y%m%d}", float(call.strike), "C", "SMART", "100", "USD")))
        assert option.conId
        assert option.conId != aapl.conId

        px = float(spot[0])
        bracket = ib.bracketOrder("BUY", 10, round(px * 1.02, 2), round(px * 1.2, 2),
                                  round(px * 0.8, 2))
        for member in bracket:
            member.tif = "GTC"  # the take-profit and stop-loss outlive the entry's day
        trades = [ib.placeOrder(aapl, member) for member in bracket]
        await until(lambda: trades[0].orderStatus.status == "Submitted")
        assert ["Submitted", "PreSubmitted", "PreSubmitted"] == [
            t.orderStatus.status for t in trades]
        days = 0
        while trades[0].orderStatus.status != "Filled" and engine.advance_day():
            days += 1
            await asyncio.sleep(0.05)
        await until(lambda: trades[0].orderStatus.status == "Filled")
        await until(lambda: trades[1].orderStatus.status == "Submitted")

        bought = ib.placeOrder(option, MarketOrder("BUY", 1))
        await until(lambda: bought.orderStatus.status == "Filled")
        await until(lambda: all(f.commissionReport.execId for f in ib.fills()))

        fills = {f.execution.execId: f for f in ib.fills()}
        reports = {e.exec_id: e for e in engine.executions()}
        assert set(reports) == set(fills)
        for exec_id, fill in fills.items():
            expected = reports[exec_id]
            assert float(expected.price) == fill.execution.price
            assert float(expected.commission) == fill.commissionReport.commission
            assert expected.time == fill.execution.time

        positions = {p.contract.conId: p.position for p in await within(ib.reqPositionsAsync())}
        assert {aapl.conId: 10.0, option.conId: 1.0} == positions
        executions = await within(ib.reqExecutionsAsync())
        assert set(reports) == {f.execution.execId for f in executions}

        summary = {v.tag: v.value for v in await within(ib.accountSummaryAsync(account))}
        snapshot = engine.account_snapshot(account)
        assert f"{snapshot.total_cash:.2f}" == summary["TotalCashValue"]
        assert f"{snapshot.net_liquidation:.2f}" == summary["NetLiquidation"]

        bars = await within(ib.reqHistoricalDataAsync(aapl, "", "60 D", "1 day", "TRADES", True))
        replayed = [b for b in engine.session.series["AAPL"] if b.end <= engine.now()]
        last_bar = replayed[-1].to_bar()
        assert bars
        assert isinstance(bars[-1].date, date)
        assert (float(last_bar.close), float(last_bar.volume)) == (bars[-1].close,
                                                                   bars[-1].volume)
        assert days >= 1
    finally:
        ib.disconnect()


# -- (b) IbkrBroker through the emulator == SimBroker in process ---------------------------------
class Venue(Protocol):
    """A broker over a replayed `SimSession`, and how its market moves."""

    sim: SimSession
    broker: Broker

    async def advance(self) -> bool: ...

    async def list_option(self, contract: OptionContract) -> None: ...

    async def settle(self) -> None: ...


class InProcess:
    """The simulated broker in process, as `ordergate run` uses it."""

    def __init__(self, sim: SimSession) -> None:
        self.sim = sim
        self.broker: Broker = sim.broker

    async def advance(self) -> bool:
        return self.sim.pacer.step_day() is not None

    async def list_option(self, contract: OptionContract) -> None:
        self.sim.list_option(contract)

    async def settle(self) -> None:
        await asyncio.sleep(0)


class ThroughEmulator:
    """Our IBKR adapter over loopback against the emulator driven by the sim."""

    def __init__(self, server: GatewayServer, broker: IbkrBroker) -> None:
        self.engine = sim_engine(server)
        self.sim = self.engine.session
        self.ibkr = broker
        self.broker: Broker = broker

    async def advance(self) -> bool:
        advanced = self.engine.advance_day()
        await self.settle()
        return advanced

    async def list_option(self, contract: OptionContract) -> None:
        """Nothing to do: the emulator lists the option when the adapter qualifies it."""

    async def settle(self) -> None:
        await self.ibkr.sync(timeout=TIMEOUT)


def approved(request: OrderRequest, now: datetime) -> ApprovedOrder:
    return mint_approval_for_tests(request, now)


def order(
    cid: str, instrument: Instrument, side: Side, qty: int,
    kind: OrderType = OrderType.MARKET, **kw: Any,
) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), instrument, side, D(qty), kind, **kw)


def multiplier(sim: SimSession, instrument_id: InstrumentId) -> Decimal:
    instrument = sim.engine.instrument(instrument_id)
    assert instrument is not None
    return instrument.multiplier


def tick(price: Decimal) -> Decimal:
    return quantize_price(price, D("0.01"))


async def trade_the_script(venue: Venue) -> None:
    """Market, limit (then modified), stop, a bracket, an option bought and sold at market, and a
    cancelled order, over the whole replay. Orders on symbols replayed after AAPL are GTC: the
    simulator expires DAY orders of every instrument at the end of each bar (see the report)."""
    sim, broker = venue.sim, venue.broker

    def last(symbol: str) -> Decimal:
        traded = sim.engine.last_price(InstrumentId(symbol))
        assert traded is not None
        return traded[0]

    async def send(*requests: OrderRequest) -> None:
        now = sim.clock.now()
        if len(requests) == 1:
            await broker.submit(approved(requests[0], now), timeout=TIMEOUT)
        else:
            await broker.submit_list(tuple(approved(r, now) for r in requests), timeout=TIMEOUT)
        await venue.settle()

    aapl, msft, ibm = Stock("AAPL"), Stock("MSFT"), Stock("IBM")
    gtc = TimeInForce.GTC
    await send(order("m1", aapl, Side.BUY, 20))
    await send(order("l1", msft, Side.BUY, 30, OrderType.LIMIT, limit_price=tick(last("MSFT") *
                     D("0.98")), time_in_force=gtc))
    entry, oca, ibm_last = ClientOrderId("b-e"), "OCA-b", last("IBM")
    await send(
        order("b-e", ibm, Side.BUY, 10, time_in_force=gtc),
        order("b-tp", ibm, Side.SELL, 10, OrderType.LIMIT, limit_price=tick(ibm_last * D("1.01")),
              parent_id=entry, oca_group=oca, time_in_force=gtc),
        order("b-sl", ibm, Side.SELL, 10, OrderType.STOP, stop_price=tick(ibm_last * D("0.97")),
              parent_id=entry, oca_group=oca, time_in_force=gtc),
    )
    await send(order("c1", aapl, Side.BUY, 5, OrderType.LIMIT, limit_price=tick(last("AAPL") / 2),
                     time_in_force=gtc))
    await broker.cancel(ClientOrderId("c1"), timeout=TIMEOUT)
    assert await venue.advance()

    await broker.modify(ClientOrderId("l1"), limit_price=tick(last("MSFT") * D("0.995")),
                        timeout=TIMEOUT)
    await send(order("s1", aapl, Side.SELL, 20, OrderType.STOP,
                     stop_price=tick(last("AAPL") * D("0.98")), time_in_force=gtc))
    call = atm_call(aapl, last("AAPL"), sim.clock.now())
    assert call is not None
    await venue.list_option(call)
    await send(order("o1", call, Side.BUY, 2))
    for _ in range(3):
        assert await venue.advance()
    await send(order("o2", call, Side.SELL, 2))
    await send(order("m2", aapl, Side.SELL, 10))
    while await venue.advance():
        pass
    await venue.settle()


def execution_rows(fills: list[ExecutionFill]) -> list[tuple[object, ...]]:
    """Fills in order, without their ids: the simulator numbers its executions `SIM-…` per
    process, the emulator as IB does (unique across restarts, `exec_ids.py`)."""
    return [(str(f.instrument_id), f.side, f.quantity, f.price, f.commission, f.ts_event)
            for f in fills]


def position_rows(positions: list[BrokerPosition]) -> set[tuple[str, Decimal, Decimal]]:
    return {(str(p.instrument_id), p.quantity, p.avg_cost.quantize(D("1e-6")))
            for p in positions}


async def test_ibkr_broker_through_the_emulator_fills_exactly_as_the_sim_broker(
    emulator: GatewayServer,
) -> None:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    in_process = InProcess(build())
    await in_process.broker.connect(timeout=TIMEOUT)
    await trade_the_script(in_process)

    ibkr = IbkrBroker(harness_config(emulator.port))
    await ibkr.connect(timeout=TIMEOUT)
    try:
        through = ThroughEmulator(emulator, ibkr)
        await trade_the_script(through)
        expected = await in_process.broker.executions(epoch, timeout=TIMEOUT)
        actual = await ibkr.executions(epoch, timeout=TIMEOUT)
        positions = await ibkr.positions(timeout=TIMEOUT)
        summary = await ibkr.account_summary(timeout=TIMEOUT)
    finally:
        await ibkr.close()

    kinds = {(f.instrument_id.value[:4].strip(), f.side) for f in expected}
    assert {("AAPL", Side.BUY), ("AAPL", Side.SELL), ("IBM", Side.BUY), ("IBM", Side.SELL),
            ("MSFT", Side.BUY)} <= kinds
    assert any(len(f.instrument_id.value) > 4 for f in expected), "the option must trade"
    assert execution_rows(expected) == execution_rows(actual)
    assert len({f.execution_id for f in actual}) == len(actual)
    assert position_rows(await in_process.broker.positions(timeout=TIMEOUT)) == position_rows(
        positions)
    cash = in_process.sim.engine.ledger.cash
    assert cash == through.sim.engine.ledger.cash  # the two simulators stand exactly alike
    spent = sum((f.signed_quantity * f.price * multiplier(through.sim, f.instrument_id)
                 + (f.commission or D(0)) for f in actual), D(0))
    assert cash == START - spent
    assert cash.quantize(D("0.01")) == summary.cash  # account values travel in cents
    cids = [ClientOrderId(c) for c in SCRIPT_IDS]
    views = [(in_process.sim.engine.order_view(c), through.sim.engine.order_view(c)) for c in cids]
    assert [(a.status, a.filled_qty) for a, _ in views] == [(b.status, b.filled_qty)
                                                            for _, b in views]
    assert OrderStatus.CANCELED == in_process.sim.engine.order_view(ClientOrderId("c1")).status


def next_open(sim: SimSession, symbol: str) -> Decimal | None:
    """The open of `symbol`'s bar on the day the replay plays next."""
    day = sim.pacer.upcoming_day()
    bars = [b for b in sim.series[symbol] if b.ts.astimezone(NEW_YORK).date() == day]
    return bars[0].to_bar().open if bars else None


def test_a_session_snaps_off_grid_prints_to_the_tick(tmp_path: Path) -> None:
    # The bundled data has sub-penny prints (AAPL opened at 248.225 on 2010-06-11); a session
    # quotes and fills on the cent grid, as IB does, so both paths see the same prices.
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2010-06-10,250.515,250.525,240.10,249.995,100\n"
        "2010-06-11,248.225,253.86,247.37,253.51,100\n",
        encoding="utf-8",
    )
    sim = SimSession.build(["AAPL"], bars_file=str(csv), warmup=0)
    bars = [b.to_bar() for b in sim.series["AAPL"]]
    assert [(b.open, b.high, b.low, b.close) for b in bars] == [
        (D("250.52"), D("250.52"), D("240.10"), D("250.00")),
        (D("248.22"), D("253.86"), D("247.37"), D("253.51")),
    ]


async def test_every_session_price_is_on_the_tick_so_a_fill_through_ib_keeps_the_sim_price(
    emulator: GatewayServer,
) -> None:
    engine = sim_engine(emulator)
    bars = [bar.to_bar() for series in engine.session.series.values() for bar in series]
    prices = [p for b in bars for p in (b.open, b.high, b.low, b.close)]
    assert prices
    assert all(p % D("0.01") == 0 for p in prices)
    price = next_open(engine.session, "AAPL")
    ibkr = IbkrBroker(harness_config(emulator.port))
    await ibkr.connect(timeout=TIMEOUT)
    try:
        through = ThroughEmulator(emulator, ibkr)
        request = order("odd", Stock("AAPL"), Side.BUY, 1)
        await ibkr.submit(approved(request, engine.now()), timeout=TIMEOUT)
        assert await through.advance()
        (fill,) = await ibkr.executions(datetime(2000, 1, 1, tzinfo=UTC), timeout=TIMEOUT)
    finally:
        await ibkr.close()
    assert price is not None
    assert price == engine.executions()[0].price == fill.price
