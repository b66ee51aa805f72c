"""Hostile clients cannot take the gateway emulator from anyone else.

The emulator runs in its own process (so its memory is its own, read from /proc/<pid>/status) and
is attacked over real sockets while an unmodified ib_async client connects: slow-loris handshakes,
clients each holding a 15 MiB partial frame, and a client flooding 40,000 requests without ever
reading an answer. Every wait is bounded; nothing asserts a wall-clock duration except the
client's own connect timeout (a behaviour: ib_async gives up after `timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ib_async import IB, Stock
from ib_async.client import Client

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine
from ordergate.adapters.gateway_sim.framing import MAX_FRAME_BYTES, FrameDecoder, encode_frame

ACCOUNT = "DU1234567"
HANDSHAKE_SECONDS = 4.0
MIB = 1024 * 1024
PEAK_GROWTH_BOUND = 100 * MIB
"""The emulator's peak RSS may grow by less than this under the attack (its partial frames are
capped at 64 MiB across all connections, each client's unread answers at 1 MiB)."""

_EMULATOR = f"""
import asyncio
from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

async def main():
    engine = InstantEngine(accounts=({ACCOUNT!r},))
    async with GatewayServer(engine, handshake_seconds={HANDSHAKE_SECONDS}) as server:
        print(server.port, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def _status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} missing from /proc/{pid}/status")


class KeepingClient(Client):
    """ib_async's own serialiser with no socket: each request's fields are kept."""

    def __init__(self) -> None:
        super().__init__(IB().wrapper)
        self.connState = Client.CONNECTED
        self._serverVersion = 178
        self.messages: list[list[str]] = []

    def sendMsg(self, msg: str) -> None:
        self.messages.append(msg.split("\0")[:-1])


_OPEN_WRITERS: list[tuple[asyncio.StreamWriter, asyncio.Future[None]]] = []


async def _api_client(
    port: int, client_id: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection through the handshake and startApi (its answers read, then no more)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    greeting = b"v157..178"
    writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
    decoder = FrameDecoder()
    while not decoder.feed(await asyncio.wait_for(reader.read(65536), 5)):
        pass
    writer.write(encode_frame(["71", "2", str(client_id), ""]))
    await writer.drain()
    return reader, writer


async def _slow_loris(port: int, fed: asyncio.Event, closed: asyncio.Event) -> None:
    """Announce a 200-byte greeting, then feed it one byte every half second (`fed` once the
    first byte is written)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(b"API\0" + struct.pack(">I", 200))
        await writer.drain()
        for _ in range(200):
            await asyncio.sleep(0.5)
            writer.write(b"v")
            await writer.drain()
            fed.set()
            if reader.at_eof() or writer.is_closing():
                break
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 0.01) == b"":
                    break
    closed.set()
    writer.close()


async def _until_closed(reader: asyncio.StreamReader, closed: asyncio.Event) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(65536):
            pass
    closed.set()


async def _partial_frame(port: int, client_id: int, closed: asyncio.Event) -> None:
    """Announce a frame of TWS's maximum length and send 15 MiB of it, never the rest."""
    reader, writer = await _api_client(port, client_id)
    watcher = asyncio.ensure_future(_until_closed(reader, closed))
    chunk = b"x" * MIB
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(struct.pack(">I", MAX_FRAME_BYTES))
        for _ in range(15):
            writer.write(chunk)
            await writer.drain()
    await asyncio.sleep(0)
    _OPEN_WRITERS.append((writer, watcher))


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[int, int]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _EMULATOR, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        yield process.pid, port
    finally:
        process.kill()
        await process.wait()


async def test_a_fresh_client_connects_while_hostile_clients_are_attached(
    emulator: tuple[int, int],
) -> None:
    pid, port = emulator
    warm = IB()  # a first session loads everything a session needs: that is the baseline
    await warm.connectAsync("127.0.0.1", port, clientId=1, timeout=10)
    await asyncio.wait_for(warm.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD")), 10)
    warm.disconnect()
    baseline = _status_bytes(pid, "VmRSS")

    _, flood_writer = await _api_client(port, 2)
    keeping = KeepingClient()
    for req_id in range(40_000):
        keeping.reqContractDetails(req_id + 1000, Stock("AAPL", "SMART", "USD"))
    flood_writer.write(b"".join(encode_frame(fields) for fields in keeping.messages))

    partial_closed = [asyncio.Event() for _ in range(8)]
    for index, event in enumerate(partial_closed):
        await asyncio.wait_for(_partial_frame(port, 10 + index, event), 30)

    loris_fed = [asyncio.Event() for _ in range(10)]
    loris_closed = [asyncio.Event() for _ in range(10)]
    loris = [asyncio.ensure_future(_slow_loris(port, fed, closed))
             for fed, closed in zip(loris_fed, loris_closed, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in loris_fed)), HANDSHAKE_SECONDS)

    fresh = IB()
    try:
        await fresh.connectAsync("127.0.0.1", port, clientId=99, timeout=1)
        now = await asyncio.wait_for(fresh.reqCurrentTimeAsync(), 1)
        assert now is not None
        assert not all(event.is_set() for event in loris_closed)  # still attached meanwhile
    finally:
        fresh.disconnect()

    # The whole-handshake deadline closes every slow-loris though each keeps feeding bytes.
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in loris_closed)), 4 * HANDSHAKE_SECONDS)
    # At most 64 MiB of partial frames stay buffered: at least 4 of the 8 holders are closed.
    assert sum(event.is_set() for event in partial_closed) >= 4
    growth = _status_bytes(pid, "VmHWM") - baseline
    assert growth < PEAK_GROWTH_BOUND, f"peak RSS grew {growth / MIB:.0f} MiB"
    flood_writer.close()
    for writer, watcher in _OPEN_WRITERS:
        writer.close()
        await asyncio.wait_for(watcher, 5)
    _OPEN_WRITERS.clear()
    await asyncio.gather(*loris)


@pytest.fixture
async def server() -> AsyncIterator[GatewayServer]:
    async with GatewayServer(InstantEngine(accounts=(ACCOUNT,)), max_connections=2) as srv:
        yield srv


async def test_a_client_past_the_connection_cap_gets_ibs_refusal(server: GatewayServer) -> None:
    first, second, third = IB(), IB(), IB()
    errors: list[tuple[int, str]] = []
    third.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    try:
        await first.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        await second.connectAsync("127.0.0.1", server.port, clientId=2, timeout=5)
        with pytest.raises((ConnectionError, TimeoutError)):
            await third.connectAsync("127.0.0.1", server.port, clientId=3, timeout=5)
        assert [code for code, _ in errors] == [502]
        assert "maximum number of API clients (2)" in errors[0][1]
        second.disconnect()
        await asyncio.sleep(0.2)  # the gateway sees the close
        await third.connectAsync("127.0.0.1", server.port, clientId=3, timeout=5)
        assert third.isConnected()
    finally:
        for client in (first, second, third):
            client.disconnect()


@pytest.mark.parametrize("greeting", [
    b"v" + b"9" * 5000,
    b"v157.." + b"1" * 5000,
    b"v\xff\xfe",
    b"garbage",
    b"v178..157",
])
async def test_a_malformed_greeting_closes_that_connection_without_a_traceback(
    server: GatewayServer, greeting: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"API\0" + struct.pack(">I", len(greeting)) + greeting)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=7, timeout=5)
    client.disconnect()
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info is not None]
    assert tracebacks == []


async def test_a_greeting_longer_than_any_real_one_is_refused(server: GatewayServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"API\0" + struct.pack(">I", 10 * MIB) + b"v" * (2 * MIB))
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    closed = asyncio.Event()
    await asyncio.wait_for(_until_closed(reader, closed), 5)  # EOF or reset, within the bound
    writer.close()


async def test_a_frame_longer_than_tws_accepts_closes_the_connection(
    server: GatewayServer,
) -> None:
    reader, writer = await _api_client(server.port, 5)
    writer.write(struct.pack(">I", MAX_FRAME_BYTES + 1) + b"x" * 100)
    await writer.drain()
    with contextlib.suppress(ConnectionError):
        while await asyncio.wait_for(reader.read(65536), 5):
            pass
    assert reader.at_eof()
    writer.close()


async def test_one_second_bars_over_100_days_are_refused_before_any_bar_is_built(
    server: GatewayServer,
) -> None:
    client = IB()
    errors: list[tuple[int, str]] = []
    await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    client.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    try:
        stock = Stock("AAPL", "SMART", "USD")
        bars = await asyncio.wait_for(
            client.reqHistoricalDataAsync(stock, "", "100 D", "1 secs", "TRADES", False), 5
        )
        assert list(bars) == []
        assert [code for code, _ in errors] == [162]
        assert "Time length exceed max" in errors[0][1]
        assert "1800 S" in errors[0][1]
        served = await asyncio.wait_for(
            # Inside a session (a fixed RTH time): at "now", an evening run has no bars.
            client.reqHistoricalDataAsync(
                stock, "20261204 15:30:00 US/Eastern", "1800 S", "1 secs", "TRADES", False
            ),
            10,
        )
        assert served  # the longest span IB serves for 1-second bars is still served
    finally:
        client.disconnect()
