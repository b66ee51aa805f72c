"""Fan-out of events to async-iterator subscriptions, for the fakes' `events()`-style streams.

A subscription sees every item published after it was created, in publish order. Publishing never
blocks and never drops an item for a live subscription; it must never await (it is called from
synchronous controls such as `FakeBroker.set_price`).
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["EventStream", "Subscription"]

T = TypeVar("T")


class _End:
    """Marks the end of a subscription inside its queue."""


_END = _End()


class Subscription(Generic[T]):
    """An async iterator over the items published after it was created.

    Iteration ends when the stream is closed or `aclose()` is called.
    """

    def __init__(self, stream: EventStream[T]) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self._ended = False

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _End):
            self._ended = True
            raise StopAsyncIteration
        return item

    def pending(self) -> int:
        """Items published and not yet taken."""
        return self._queue.qsize()

    def _put(self, item: T | _End) -> None:
        self._queue.put_nowait(item)

    async def aclose(self) -> None:
        """Stop receiving; a pending `__anext__` ends with `StopAsyncIteration`."""
        self._stream._remove(self)
        self._put(_END)


class EventStream(Generic[T]):
    """Publishes items to every live subscription."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription[T]] = []
        self._closed = False

    def subscribe(self) -> Subscription[T]:
        """A new subscription; registered now, so it sees everything published from here on."""
        subscription = Subscription(self)
        if self._closed:
            subscription._put(_END)
        else:
            self._subscriptions.append(subscription)
        return subscription

    def publish(self, item: T) -> None:
        """Hand `item` to every live subscription, without waiting."""
        for subscription in self._subscriptions:
            subscription._put(item)

    @property
    def subscribers(self) -> int:
        """How many subscriptions are live."""
        return len(self._subscriptions)

    def close(self) -> None:
        """End every subscription (and any created later)."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription._put(_END)
        self._subscriptions.clear()

    def _remove(self, subscription: Subscription[T]) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
