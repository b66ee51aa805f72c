"""The emulator's control channel (`CTL\\0` on the TWS port): status, refusals, faults armed from
another connection, and TWS clients unaffected on the same port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from ib_async import IB, MarketOrder, Stock

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine
from ordergate.adapters.gateway_sim.control import (
    CONTROL_PREFIX,
    ReplayControlClient,
    ReplayControlError,
    ReplayStatus,
)
from ordergate.domain.errors import BrokerError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def server() -> AsyncIterator[GatewayServer]:
    async with GatewayServer(InstantEngine(accounts=("DU1234567",))) as srv:
        yield srv


async def test_an_instant_engine_reports_no_replay_and_refuses_to_advance(
    server: GatewayServer,
) -> None:
    async with await ReplayControlClient.connect("127.0.0.1", server.port) as control:
        status = await control.status()
        assert not status.replay
        assert status.now <= server.engine.now()  # the instant engine's clock is the wall's
        with pytest.raises(ReplayControlError, match="--replay"):
            await control.advance()
        assert not (await control.status()).replay  # the connection survives a refusal


async def test_malformed_requests_are_answered_and_the_connection_stays_open(
    server: GatewayServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(CONTROL_PREFIX + b"{not json\n[1, 2]\n{\"op\": \"status\"}\n")
    answers = [json.loads(await asyncio.wait_for(reader.readline(), 5)) for _ in range(3)]
    writer.close()
    assert answers[0]["ok"] is False
    assert "not JSON" in answers[0]["error"]
    assert answers[1]["ok"] is False
    assert "JSON object" in answers[1]["error"]
    assert answers[2]["ok"] is True


async def test_a_fault_armed_over_the_control_channel_reaches_a_tws_client(
    server: GatewayServer,
) -> None:
    ib = IB()
    await ib.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    try:
        async with await ReplayControlClient.connect("127.0.0.1", server.port) as control:
            await control.fault("reject_next_order", "no shorting today")
            with pytest.raises(ReplayControlError, match="unknown fault"):
                await control.fault("explode")
            with pytest.raises(ReplayControlError, match=r"ValueError.*soon"):
                await control.fault("delay_responses", "soon")  # not a number of seconds
            assert not (await control.status()).replay  # still answering
        (aapl,) = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
        for _ in range(500):
            if any(e.errorCode for e in trade.log):
                break
            await asyncio.sleep(0.01)
        assert any(e.errorCode == 201 and "no shorting today" in e.message for e in trade.log)
    finally:
        ib.disconnect()


async def test_nothing_listening_is_a_broker_error_naming_the_address() -> None:
    async with GatewayServer(InstantEngine()) as srv:
        port = srv.port
    with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
        await ReplayControlClient.connect("127.0.0.1", port, timeout=2)


def test_a_malformed_status_is_a_typed_error_naming_the_field() -> None:
    with pytest.raises(ReplayControlError, match="days_done"):
        ReplayStatus.from_json(
            {"ok": True, "replay": True, "now": "2010-05-05T20:00:00+00:00", "days_done": -1}
        )
    with pytest.raises(ReplayControlError, match="now"):
        ReplayStatus.from_json({"ok": True, "replay": True, "now": "2010-05-05T20:00:00"})
