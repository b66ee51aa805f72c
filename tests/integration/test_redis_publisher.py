"""RedisStreamPublisher on a real Redis: topics, bounded streams, decoding, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.redis import (
    RedisConfig,
    RedisStreamPublisher,
    RedisUnavailable,
    connect,
    decode_entry,
    redact_url,
)
from ordergate.adapters.redis.testing import RedisPublisherHarness
from ordergate.application.testing.contracts.publisher import sample_events
from ordergate.domain.errors import InvalidValue

pytestmark = pytest.mark.services

EXPECTED_TOPIC = {  # adapters/topics.py: the same names as the in-memory publisher's
    "OrderLifecycleEvent": "orders:lifecycle",
    "ExecutionFill": "orders:fills",
    "CommissionReport": "orders:commissions",
    "FillRecovered": "orders:fills",
    "PositionSnapshot": "positions:stream",
    "PnLSnapshot": "pnl:stream",
    "RiskDecisionMade": "risk:decisions",
    "BreakerTripped": "risk:breakers",
    "BreakerReset": "risk:breakers",
    "TradingStateChanged": "risk:trading_state",
    "ConnectionStateChanged": "broker:connection",
    "ReconciliationDiff": "broker:reconciliation",
}


@pytest.fixture
async def harness(redis_url: str) -> AsyncIterator[RedisPublisherHarness]:
    h = await RedisPublisherHarness.create(redis_url, maxlen=50)
    try:
        yield h
    finally:
        await h.close()


async def test_each_event_lands_in_its_topic_and_decodes_back_equal(
    harness: RedisPublisherHarness,
) -> None:
    events = sample_events()
    for event in events:
        await harness.publisher.publish(event)
    for event in events:
        stream = f"{harness.prefix}:{EXPECTED_TOPIC[type(event).__name__]}"
        entries = await harness.client.xrange(stream)
        decoded = [decode_entry(fields) for _id, fields in entries]
        assert event in decoded
    assert len(EXPECTED_TOPIC) == len({type(e).__name__ for e in events})


async def test_entry_fields_name_type_version_and_correlation(
    harness: RedisPublisherHarness,
) -> None:
    event = sample_events("corr-fields")[1]
    await harness.publisher.publish(event)
    [(_id, fields)] = await harness.client.xrange(f"{harness.prefix}:orders:fills")
    assert (b"ExecutionFill", b"1", b"corr-fields") == (
        fields[b"type"],
        fields[b"version"],
        fields[b"correlation_id"],
    )


async def test_streams_stay_bounded(harness: RedisPublisherHarness) -> None:
    event = sample_events()[0]
    for _ in range(1000):
        await harness.publisher.publish(event)
    # MAXLEN ~ 50 trims whole radix-tree nodes (100 entries by default), never below 50.
    length = await harness.client.xlen(f"{harness.prefix}:orders:lifecycle")
    assert 50 <= length < 200


async def test_all_events_stream_keeps_publish_order_across_topics(
    harness: RedisPublisherHarness,
) -> None:
    events = sample_events("ordered") * 3
    for event in events:
        await harness.publisher.publish(event)
    assert events == await harness.received(len(events), timeout=5.0)


async def test_every_publisher_names_topics_alike_under_its_prefix() -> None:
    memory = InMemoryPublisher(prefix="desk1")
    redis_side = RedisStreamPublisher(aioredis.Redis(), prefix="desk1", owns_client=True)
    for event in sample_events("same"):
        assert memory.topics.for_event(event) == redis_side.topics.for_event(event)
        assert f"desk1:{EXPECTED_TOPIC[type(event).__name__]}" == redis_side.topic_for(event)
    assert "desk1:events:stream" == redis_side.all_events_stream
    assert "positions:stream" == InMemoryPublisher().topics.name("positions:stream")
    await redis_side.close()


async def test_entry_without_data_is_refused_with_a_readable_error() -> None:
    with pytest.raises(InvalidValue, match="data"):
        decode_entry({b"type": b"ExecutionFill"})


async def test_unreachable_redis_raises_redis_unavailable(unused_tcp_port: int) -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_timeout=1)
    publisher = RedisStreamPublisher(client, owns_client=True)
    try:
        with pytest.raises(RedisUnavailable, match="OrderLifecycleEvent"):
            await publisher.publish(sample_events()[0])
    finally:
        await publisher.close()


def test_a_password_in_the_url_is_refused_and_redacted() -> None:
    with pytest.raises(InvalidValue) as caught:
        connect(RedisConfig(url="redis://user:hunter2@127.0.0.1:6379/0"))
    assert "hunter2" not in str(caught.value)
    assert "redis://user:***@db:6379/0" == redact_url("redis://user:hunter2@db:6379/0")


async def test_password_comes_from_the_named_environment_variable(redis_url: str) -> None:
    client = connect(RedisConfig(url=redis_url, password_env="REDIS_PW_FOR_TEST"), {})
    try:
        assert await client.ping()
    finally:
        await client.aclose()
    with_password = connect(
        RedisConfig(url=redis_url, password_env="REDIS_PW_FOR_TEST"), {"REDIS_PW_FOR_TEST": "pw"}
    )
    try:
        assert "pw" == with_password.connection_pool.connection_kwargs["password"]
    finally:
        await with_password.aclose()
