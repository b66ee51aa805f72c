"""Fan-out of the adapter's broker events to async-iterator subscriptions (`events()`).

A subscription sees every event published after it was created, in publish order. Publishing is
synchronous (it runs inside ib_async's callbacks, which must not await) and never drops an event
for a live subscription. It must never reorder events or block the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

__all__ = ["EventFanout"]

T = TypeVar("T")
_END = object()


class _Subscription(Generic[T]):
    def __init__(self, owner: EventFanout[T]) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._ended = False

    def __aiter__(self) -> _Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            self._owner.discard(self)
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    def put(self, item: object) -> None:
        self._queue.put_nowait(item)


class EventFanout(Generic[T]):
    """Publishes items to every live subscription; `close()` ends them all."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription[T]] = []
        self.published = 0

    def subscribe(self) -> AsyncIterator[T]:
        """A new subscription, registered now (it sees everything published from here on)."""
        subscription: _Subscription[T] = _Subscription(self)
        self._subscriptions.append(subscription)
        return subscription

    def publish(self, item: T) -> None:
        """Hand `item` to every subscription, without waiting."""
        self.published += 1
        for subscription in list(self._subscriptions):
            subscription.put(item)

    def discard(self, subscription: _Subscription[T]) -> None:
        """Forget a subscription that ended."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def close(self) -> None:
        """End every subscription (each sees `StopAsyncIteration` after what it already got)."""
        for subscription in self._subscriptions:
            subscription.put(_END)
