"""RedisSignalSource on a real Redis: at-least-once with a consumer group, ack, bad messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from ordergate.adapters.redis import RedisSeenSignals, RedisSignalSource, SeenSignals
from ordergate.adapters.redis.testing import RedisSignalSourceHarness
from ordergate.adapters.serialization import encode_signal
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

pytestmark = pytest.mark.services

VISIBILITY = 0.3


def signal(number: int) -> Signal:
    return Signal(
        signal_id=SignalId(f"SIG-{number}"),
        instrument=Stock("MSFT"),
        side=Side.SELL,
        ts=datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
        quantity=Decimal(number),
    )


@pytest.fixture
async def harness(redis_url: str) -> AsyncIterator[RedisSignalSourceHarness]:
    h = await RedisSignalSourceHarness.create(redis_url, visibility_timeout=VISIBILITY)
    try:
        yield h
    finally:
        await h.close()


def second_consumer(h: RedisSignalSourceHarness) -> RedisSignalSource:
    return RedisSignalSource(
        h.client, stream=h.stream, group="contract", consumer="b", visibility_timeout=VISIBILITY
    )


async def test_unacked_delivery_goes_to_another_consumer_after_the_visibility_timeout(
    harness: RedisSignalSourceHarness,
) -> None:
    other = second_consumer(harness)
    await harness.push(signal(1))
    [first] = await harness.source.receive(max_count=5, timeout=1.0)
    assert [] == await other.receive(max_count=5, timeout=0.05)  # still invisible
    await asyncio.sleep(VISIBILITY + 0.1)
    [again] = await other.receive(max_count=5, timeout=1.0)
    assert (first.delivery_id, signal(1)) == (again.delivery_id, again.signal)
    [pending] = await harness.client.xpending_range(harness.stream, "contract", "-", "+", 10)
    assert (b"b", 2) == (pending["consumer"], pending["times_delivered"])


async def test_ack_stops_redelivery(harness: RedisSignalSourceHarness) -> None:
    other = second_consumer(harness)
    await harness.push(signal(1))
    [delivery] = await harness.source.receive(max_count=1, timeout=1.0)
    await harness.source.ack(delivery.delivery_id)
    await asyncio.sleep(VISIBILITY + 0.1)
    assert [] == await other.receive(max_count=5, timeout=0.05)
    assert [] == await harness.client.xpending_range(harness.stream, "contract", "-", "+", 10)


async def test_malformed_messages_are_reported_not_raised(
    harness: RedisSignalSourceHarness,
) -> None:
    extra_key = encode_signal(signal(2))[:-1] + ',"bogus":1}'
    await harness.push_raw("{not json")
    await harness.push_raw(extra_key)
    await harness.client.xadd(harness.stream, {"payload": "wrong field"})
    await harness.push(signal(3))
    bad_json, bad_key, no_data, good = await harness.source.receive(max_count=10, timeout=1.0)
    assert (None, "{not json") == (bad_json.signal, bad_json.raw)
    assert "not valid JSON" in bad_json.error
    assert (None, extra_key) == (bad_key.signal, bad_key.raw)
    assert "bogus" in bad_key.error
    assert "`data`" in no_data.error
    assert (signal(3), "") == (good.signal, good.error)


async def test_receive_honours_max_count_and_times_out_empty(
    harness: RedisSignalSourceHarness,
) -> None:
    for number in range(5):
        await harness.push(signal(number + 1))
    first = await harness.source.receive(max_count=2, timeout=1.0)
    rest = await harness.source.receive(max_count=10, timeout=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    empty = await harness.source.receive(max_count=10, timeout=0.2)
    assert [signal(n) for n in range(1, 6)] == [d.signal for d in first + rest]
    assert ([], True) == (empty, 0.15 <= loop.time() - started < 1.5)


async def test_a_late_signal_wakes_a_blocked_receive(harness: RedisSignalSourceHarness) -> None:
    async def push_later() -> None:
        await asyncio.sleep(0.2)
        await harness.push(signal(9))

    pusher = asyncio.create_task(push_later())
    deliveries = await harness.source.receive(max_count=1, timeout=3.0)
    await pusher
    assert [signal(9)] == [d.signal for d in deliveries]


async def test_redis_seen_signals_answer_first_time_once_across_consumers(
    harness: RedisSignalSourceHarness,
) -> None:
    seen_a = RedisSeenSignals(harness.client, key_prefix=f"{harness.prefix}:seen", ttl_seconds=60)
    seen_b = RedisSeenSignals(harness.client, key_prefix=f"{harness.prefix}:seen", ttl_seconds=60)
    answers = [await seen_a.first_time("SIG-1"), await seen_b.first_time(SignalId("SIG-1"))]
    assert [True, False] == answers


def test_in_process_seen_signals_forget_the_least_recently_seen_beyond_capacity() -> None:
    seen = SeenSignals(capacity=2)
    # "a" seen again is kept over "b"; "c" then pushes "b" out, and "b" pushes "a" out.
    answers = [seen.first_time(s) for s in ("a", "b", "a", "c", "b", "a")]
    assert [True, True, False, True, True, True] == answers


async def test_close_does_not_close_a_borrowed_client(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        source = RedisSignalSource(client, stream="ordergate_test_unused:signals")
        await source.close()
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize("bad", ["S\x001", "x" * 1_048_576])
async def test_seen_signal_memories_refuse_an_id_that_breaks_the_signal_id_rule(
    harness: RedisSignalSourceHarness, bad: str
) -> None:
    seen = RedisSeenSignals(harness.client, key_prefix=f"{harness.prefix}:seen", ttl_seconds=60)
    with pytest.raises(InvalidValue, match=r"SignalId\.value"):
        await seen.first_time(bad)
    with pytest.raises(InvalidValue, match=r"SignalId\.value"):
        SeenSignals().first_time(bad)
    assert [] == [key async for key in harness.client.scan_iter(match=f"{harness.prefix}:seen*")]
