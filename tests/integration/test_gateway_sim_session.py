"""Connecting to the TWS gateway emulator with the unmodified ib_async client, over loopback."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import pytest
from ib_async import IB, Stock

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine
from ordergate.adapters.gateway_sim.framing import FrameDecoder, encode_frame

T = TypeVar("T")
ACCOUNT = "DU1234567"


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """Await with a bound, so a protocol bug fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


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
async def server() -> AsyncIterator[GatewayServer]:
    async with GatewayServer(InstantEngine(accounts=(ACCOUNT,))) as srv:
        yield srv


@pytest.fixture
async def ib(server: GatewayServer) -> AsyncIterator[IB]:
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    yield client
    client.disconnect()


async def test_ib_async_connects_in_well_under_a_second(server: GatewayServer) -> None:
    client = IB()
    started = time.perf_counter()
    await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    elapsed = time.perf_counter() - started
    try:
        assert client.isConnected()
        assert elapsed < 0.5
        assert client.client.serverVersion() == 178
    finally:
        client.disconnect()


async def test_managed_accounts_come_from_the_engine(ib: IB) -> None:
    assert ib.managedAccounts() == [ACCOUNT]


async def test_current_time_is_the_engines_clock(ib: IB) -> None:
    now = await within(ib.reqCurrentTimeAsync())
    assert abs(now.timestamp() - time.time()) < 5


async def test_startup_synchronisation_completes_without_timeouts(
    server: GatewayServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=4, timeout=5)
    client.disconnect()
    timeouts = [r for r in caplog.get_records("call") if "timed out" in r.getMessage()]
    assert timeouts == []


async def test_a_second_connection_with_a_taken_client_id_gets_326(
    server: GatewayServer, ib: IB
) -> None:
    second = IB()
    codes: list[int] = []
    second.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    with pytest.raises(TimeoutError):
        await second.connectAsync("127.0.0.1", server.port, clientId=1, timeout=0.5)
    assert codes == [326]
    assert ib.isConnected()


async def test_two_clients_with_different_ids_coexist(server: GatewayServer, ib: IB) -> None:
    other = IB()
    await other.connectAsync("127.0.0.1", server.port, clientId=2, timeout=5)
    try:
        assert sorted(server.sessions) == [1, 2]
    finally:
        other.disconnect()


async def test_disconnect_frees_the_client_id(server: GatewayServer) -> None:
    first = IB()
    await first.connectAsync("127.0.0.1", server.port, clientId=7, timeout=5)
    first.disconnect()
    await within(_until(lambda: 7 not in server.sessions))
    again = IB()
    await again.connectAsync("127.0.0.1", server.port, clientId=7, timeout=5)
    again.disconnect()


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


class RawClient:
    """A bare socket speaking the protocol by hand, for what ib_async would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()
        self.inbox: list[list[str]] = []

    @classmethod
    async def connect(cls, port: int, greeting: bytes) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
        await writer.drain()
        return cls(reader, writer)

    def send(self, *fields: str) -> None:
        self.writer.write(encode_frame(list(fields)))

    async def until(self, predicate: Any) -> list[str]:
        """The first message (received or arriving) matching `predicate`."""
        while True:
            for index, message in enumerate(self.inbox):
                if predicate(message):
                    return self.inbox.pop(index)
            chunk = await within(self.reader.read(65536))
            if not chunk:
                raise ConnectionError("the gateway closed the connection")
            self.inbox += self.decoder.feed(chunk)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_an_old_client_is_refused_with_a_readable_reason(server: GatewayServer) -> None:
    raw = await RawClient.connect(server.port, b"v100..150")
    try:
        rest = await within(raw.reader.read())  # everything until the gateway closes
        hello, refusal = raw.decoder.feed(rest)
        assert hello[0] == "170"
        assert refusal[:4] == ["4", "2", "-1", "502"]
        assert "100..150" in refusal[4]
        assert "170..178" in refusal[4]
    finally:
        await raw.close()


async def test_a_newer_client_is_offered_178(server: GatewayServer) -> None:
    raw = await RawClient.connect(server.port, b"v100..187")
    try:
        hello = await raw.until(lambda msg: len(msg) == 2)
        assert hello[0] == "178"
    finally:
        await raw.close()


async def test_malformed_requests_get_error_320_and_the_connection_survives(
    server: GatewayServer,
) -> None:
    raw = await RawClient.connect(server.port, b"v157..178")
    try:
        await raw.until(lambda msg: len(msg) == 2)
        raw.send("71", "2", "9", "")
        await raw.until(lambda msg: msg[0] == "9")  # nextValidId: the API is up
        raw.send("9", "8", "42", "not-a-con-id")
        raw.send("49", "1")
        error = await raw.until(lambda msg: msg[0] == "4" and msg[3] == "320")
        assert (error[2], error[3]) == ("42", "320")
        assert (await raw.until(lambda msg: msg[0] == "49"))[0] == "49"
    finally:
        await raw.close()


async def test_out_of_scope_requests_get_ibs_own_refusal_with_their_request_id(ib: IB) -> None:
    codes: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append((req_id, code))
    ib.RequestTimeout = 0  # only the gateway's answer can end these calls
    [aapl] = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    assert not await within(ib.reqFundamentalDataAsync(aapl, "ReportSnapshot"))
    assert not await within(ib.reqHistoricalNewsAsync(aapl.conId, "BRFG", "", "", 10))
    assert not await within(ib.reqSmartComponentsAsync("a6"))
    assert [code for req_id, code in codes if req_id > 0] == [430, 10276, 320]


async def test_message_rate_above_50_per_second_gets_error_100(ib: IB) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    ib.client.MaxRequests = 0  # lift ib_async's own 45/s throttle to reach the gateway's limit
    for _ in range(60):
        ib.client.reqCurrentTime()
    await within(_until(lambda: 100 in codes))
    assert codes.count(100) == 1


async def test_client_id_zero_connects_and_its_auto_open_orders_request_is_accepted(
    server: GatewayServer,
) -> None:
    client = IB()
    codes: list[int] = []
    client.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    await client.connectAsync("127.0.0.1", server.port, clientId=0, timeout=5)
    try:
        await within(client.reqCurrentTimeAsync())
        assert [c for c in codes if c < 2100] == []
    finally:
        client.disconnect()
