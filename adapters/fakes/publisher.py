"""`InMemoryPublisher`: an `EventPublisher` that records events and fans them out in process.

For tests and single-process runs (the embedded default). Each event goes to the topic its type
names (`topic_for`); subscribers see events in publish order. It must never drop, reorder or
transform an event, and never accept a value that is not a lifecycle event.
"""

from __future__ import annotations

from typing import Final

from ordergate.adapters.fakes._stream import EventStream, Subscription
from ordergate.adapters.topics import TOPIC_NAMES, Topics
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.events import (
    LifecycleEvent,
)

__all__ = ["TOPICS", "InMemoryPublisher", "PublisherError", "topic_for"]

TOPICS: Final[dict[type, str]] = TOPIC_NAMES
"""The topics without prefix (`adapters/topics.py`, the scheme every publisher shares)."""


def topic_for(event: LifecycleEvent) -> str:
    """The topic an event is published on (by its type), without prefix."""
    return Topics().for_event(event)


class PublisherError(OrdergateError):
    """The publisher could not accept an event (closed, or a failure injected by a test)."""


class InMemoryPublisher:
    """Records every published event (`published`, as (topic, event)) and fans them out.

    Controls: `subscribe(topic=None)` returns an async iterator of the events published from then
    on (all topics, or one); `fail_next(reason)` makes the next `publish` raise `PublisherError`;
    `set_outage(reason)` makes every `publish` raise it until `set_outage(None)` (a transport
    that is down, then back).
    """

    def __init__(self, prefix: str = "") -> None:
        self.topics = Topics(prefix)
        """The topic names (`adapters/topics.py`: the scheme the Redis publisher uses too)."""
        self.published: list[tuple[str, LifecycleEvent]] = []
        self._all: EventStream[LifecycleEvent] = EventStream()
        self._topics: dict[str, EventStream[LifecycleEvent]] = {}
        self._fail_next: str | None = None
        self._outage: str | None = None
        self.refused = 0  # publishes refused by an injected failure or outage
        self._closed = False

    async def publish(self, event: LifecycleEvent) -> None:
        """Record `event` and hand it to the subscribers of all topics and of its own."""
        if self._closed:
            raise PublisherError("publish: the publisher is closed")
        if self._fail_next is not None:
            reason, self._fail_next = self._fail_next, None
            self.refused += 1
            raise PublisherError(f"publish failed: {reason}")
        if self._outage is not None:
            self.refused += 1
            raise PublisherError(f"publish failed: {self._outage} (outage)")
        topic = self.topics.for_event(event)
        self.published.append((topic, event))
        self._all.publish(event)
        stream = self._topics.get(topic)
        if stream is not None:
            stream.publish(event)

    async def close(self) -> None:
        """Stop accepting events and end every subscription."""
        self._closed = True
        self._all.close()
        for stream in self._topics.values():
            stream.close()

    def subscribe(self, topic: str | None = None) -> Subscription[LifecycleEvent]:
        """Events published from now on, on every topic or on `topic` only."""
        if topic is None:
            return self._all.subscribe()
        if topic not in self.topics.every_topic():
            raise InvalidValue("InMemoryPublisher.subscribe.topic", topic, "is not a known topic")
        stream = self._topics.setdefault(topic, EventStream())
        if self._closed:
            stream.close()
        return stream.subscribe()

    def events(self, topic: str | None = None) -> list[LifecycleEvent]:
        """What was published, in order (on `topic` only when given)."""
        return [event for name, event in self.published if topic is None or name == topic]

    def fail_next(self, reason: str) -> None:
        """The next `publish` raises `PublisherError(reason)` and publishes nothing."""
        self._fail_next = reason

    def set_outage(self, reason: str | None) -> None:
        """From now on every `publish` raises `PublisherError(reason)` and publishes nothing;
        `None` ends the outage."""
        self._outage = reason
