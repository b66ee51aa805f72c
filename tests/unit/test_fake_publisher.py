"""InMemoryPublisher: topics, subscriptions, injected failures, closing."""

from __future__ import annotations

import pytest

from ordergate.adapters.fakes.publisher import InMemoryPublisher, PublisherError, topic_for
from ordergate.application.testing.contracts.publisher import sample_events
from ordergate.domain.errors import InvalidValue


async def test_topic_subscribers_see_only_their_topic() -> None:
    publisher = InMemoryPublisher()
    fills = publisher.subscribe("orders:fills")
    events = sample_events()
    for event in events:
        await publisher.publish(event)
    await publisher.close()
    received = [event async for event in fills]
    assert [e for e in events if topic_for(e) == "orders:fills"] == received
    assert 2 == len(received)  # the fill and the recovered fill
    assert events == publisher.events()


async def test_fail_next_raises_once_and_publishes_nothing() -> None:
    publisher = InMemoryPublisher()
    publisher.fail_next("redis down")
    event = sample_events()[0]
    with pytest.raises(PublisherError, match="redis down"):
        await publisher.publish(event)
    await publisher.publish(event)
    assert [event] == publisher.events()


async def test_closed_publisher_and_foreign_values_are_refused() -> None:
    publisher = InMemoryPublisher()
    with pytest.raises(InvalidValue):
        await publisher.publish("not an event")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        publisher.subscribe("no:such:topic")
    await publisher.close()
    with pytest.raises(PublisherError):
        await publisher.publish(sample_events()[0])
