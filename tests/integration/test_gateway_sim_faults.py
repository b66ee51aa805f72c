"""Fault injection in the TWS gateway emulator, observed through the unmodified ib_async client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from ib_async import IB, MarketOrder, Stock, Trade

from ordergate.adapters.gateway_sim import FaultScript, GatewayServer, InstantEngine
from ordergate.adapters.gateway_sim.faults import FaultScriptError, FaultStep

T = TypeVar("T")
ACCOUNT = "DU1234567"


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
    bad = [r.getMessage() for r in caplog.get_records("call")
           if r.levelno >= logging.ERROR and r.name == "ib_async.Decoder"]
    assert bad == []


@pytest.fixture
async def server() -> AsyncIterator[GatewayServer]:
    async with GatewayServer(InstantEngine(accounts=(ACCOUNT,))) as srv:
        yield srv


async def connect(server: GatewayServer, client_id: int = 1) -> IB:
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=client_id, timeout=5)
    return client


@pytest.fixture
async def ib(server: GatewayServer) -> AsyncIterator[IB]:
    client = await connect(server)
    yield client
    client.disconnect()


@pytest.fixture
def codes(ib: IB) -> list[int]:
    seen: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append(code)
    return seen


@pytest.fixture
async def aapl(ib: IB) -> Stock:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    return stock


async def test_dropping_the_connection_disconnects_the_client(
    server: GatewayServer, ib: IB
) -> None:
    await server.drop_connection(client_id=1)
    await until(lambda: not ib.isConnected())
    assert server.sessions == {}


async def test_connectivity_codes_reach_the_client_and_keep_the_socket(
    server: GatewayServer, ib: IB, codes: list[int]
) -> None:
    server.connectivity_lost()
    server.server_broken()
    server.connectivity_restored(data_lost=True)
    server.connectivity_restored(data_lost=False)
    server.farm_ok()
    await until(lambda: len(codes) == 5)
    assert codes == [1100, 2110, 1101, 1102, 2104]
    assert ib.isConnected()


async def test_the_next_order_is_rejected_with_201(
    server: GatewayServer, ib: IB, aapl: Stock, codes: list[int]
) -> None:
    server.reject_next_order("margin check failed")
    rejected = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    await status(rejected, "Cancelled")
    accepted = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    await status(accepted, "Filled")
    assert codes == [201]
    assert "margin check failed" in rejected.log[-1].message


async def test_responses_can_be_delayed(server: GatewayServer, ib: IB) -> None:
    server.delay_responses(0.3)
    started = time.perf_counter()
    await within(ib.reqCurrentTimeAsync())
    delayed = time.perf_counter() - started
    server.delay_responses(0)
    started = time.perf_counter()
    await within(ib.reqCurrentTimeAsync())
    assert delayed >= 0.3
    assert time.perf_counter() - started < 0.3


async def test_a_duplicated_execution_reaches_the_client_twice_and_is_applied_once(
    server: GatewayServer, ib: IB, aapl: Stock, caplog: pytest.LogCaptureFixture
) -> None:
    server.duplicate_next_execution()
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    await status(trade, "Filled")
    await asyncio.sleep(0.05)
    reports = [r for r in caplog.get_records("call") if r.getMessage().startswith("execDetails Ex")]
    assert len(reports) == 2
    assert len(ib.fills()) == 1


async def test_a_commission_sent_before_its_execution_is_dropped_by_ib_async(
    server: GatewayServer, ib: IB, aapl: Stock
) -> None:
    server.commission_before_execution()
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    await status(trade, "Filled")
    await asyncio.sleep(0.05)
    (fill,) = trade.fills
    assert fill.commissionReport.commission == 0.0  # the report arrived before the fill existed
    await within(ib.reqExecutionsAsync())  # a resync re-sends the report, now after its fill
    assert fill.commissionReport.commission == 1.0


async def test_next_valid_id_rolls_back_after_a_restart(server: GatewayServer) -> None:
    first = await connect(server)
    (stock,) = await within(first.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    used = []
    for _ in range(3):
        trade = first.placeOrder(stock, MarketOrder("BUY", 1))
        await status(trade, "Filled")
        used.append(trade.order.orderId)
    server.roll_back_next_valid_id(to=1)
    await server.restart(downtime=0.05)
    await until(lambda: not first.isConnected())
    again = await connect(server)
    codes: list[int] = []
    again.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    try:
        for _ in range(10):
            trade = again.placeOrder(stock, MarketOrder("BUY", 1))
            if trade.order.orderId in used:
                break
            await status(trade, "Filled")
        assert trade.order.orderId in used
        await status(trade, "Cancelled")
        assert codes == [103]
    finally:
        again.disconnect()


async def test_an_occupied_client_id_is_refused_with_326(server: GatewayServer) -> None:
    server.occupy_client_id(5)
    refused = IB()
    codes: list[int] = []
    refused.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    with pytest.raises(TimeoutError):
        await refused.connectAsync("127.0.0.1", server.port, clientId=5, timeout=0.5)
    assert codes == [326]
    server.release_client_id(5)
    (await connect(server, 5)).disconnect()


async def test_a_pacing_violation_is_error_100(
    server: GatewayServer, ib: IB, codes: list[int]
) -> None:
    server.pacing_violation_on_next_request()
    await within(ib.reqCurrentTimeAsync())
    assert codes == [100]


async def test_historical_pacing_is_error_162_for_that_request_only(
    server: GatewayServer, ib: IB, aapl: Stock, codes: list[int]
) -> None:
    server.pace_next_historical_request()
    paced = await within(ib.reqHistoricalDataAsync(aapl, "", "2 D", "1 hour", "TRADES", True))
    served = await within(ib.reqHistoricalDataAsync(aapl, "", "2 D", "1 hour", "TRADES", True))
    assert (list(paced), codes) == ([], [162])
    assert len(served) > 0


async def test_a_restart_keeps_engine_state_and_reaccepts_clients(
    server: GatewayServer, ib: IB, aapl: Stock
) -> None:
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 3))
    await status(trade, "Filled")
    await server.restart(downtime=0.05)
    await until(lambda: not ib.isConnected())
    again = await connect(server)
    try:
        assert [p.position for p in again.positions()] == [3.0]
        assert len(again.fills()) == 1
    finally:
        again.disconnect()


async def test_a_fault_script_runs_its_steps_in_order(
    server: GatewayServer, ib: IB, codes: list[int]
) -> None:
    task = server.run_script(
        "connectivity-lost; wait 0.05; connectivity-restored data_lost=true  # resync\nfarm-ok"
    )
    await within(task)
    await until(lambda: len(codes) == 3)
    assert codes == [1100, 1101, 2104]


def test_fault_scripts_parse_quoted_arguments_and_bare_waits() -> None:
    script = FaultScript.parse('wait 0.5\nreject-next-order reason="no funds today"')
    assert script.steps == (
        FaultStep("wait", {"seconds": 0.5}),
        FaultStep("reject_next_order", {"reason": "no funds today"}),
    )


async def test_a_script_naming_an_unknown_fault_is_refused(server: GatewayServer) -> None:
    with pytest.raises(FaultScriptError, match="unknown fault 'explode'"):
        server.run_script("explode")
