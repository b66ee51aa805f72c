"""`BufferedPublisher`'s send timeout: a send that hangs counts as a failed attempt (an outage),
the drain survives it and goes on retrying, and `close` still ends in time.

The transport is the real `RedisStreamPublisher` over a real socket to a listener that accepts
and reads but never answers (a hung Redis), with the client's own socket timeout far longer than
the publisher's `send_timeout`, so only the publisher's timeout can end the send.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.redis.publisher import RedisStreamPublisher
from ordergate.application.publishing import BufferedPublisher
from ordergate.domain.events import ConnectionState, ConnectionStateChanged

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
WAIT = 30.0  # an upper bound for what the test waits on, never an assertion on time


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass  # swallow every command, answer none
    writer.close()


def _event() -> ConnectionStateChanged:
    return ConnectionStateChanged(ConnectionState.CONNECTED, ConnectionState.RECONNECTING, T0, T0)


async def _until(condition: object) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_a_hung_send_times_out_into_an_outage_and_the_drain_keeps_retrying() -> None:
    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=600, socket_connect_timeout=600
    )
    audit = InMemoryAuditLog()
    publisher = BufferedPublisher(
        RedisStreamPublisher(client, prefix="ordergate_test_hung", owns_client=True),
        audit=audit,
        clock=FakeClock(T0),
        send_timeout=0.05,
        retry_initial=0.01,
        retry_max=0.02,
        close_timeout=0.5,
    )
    try:
        await publisher.publish(_event())
        await _until(lambda: publisher.health().failed_attempts >= 2)  # timed out, retried
        health = publisher.health()
        assert (health.in_outage, health.outages, health.published) == (True, 1, 0)
        assert health.buffered == 1  # kept for the next attempt, not lost
        [started] = await audit.query(kind="publisher.outage_started")
        assert "TimeoutError" in started.record.payload["error"]
    finally:
        await publisher.close()
        server.close()
        await server.wait_closed()
    health = publisher.health()
    assert (health.buffered, health.dropped, health.in_outage) == (0, 1, False)
    [ended] = await audit.query(kind="publisher.outage_ended")
    assert ended.record.payload["recovered"] is False
