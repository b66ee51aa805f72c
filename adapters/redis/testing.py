"""Harnesses for the publisher and signal-source contract suites over a real Redis.

Each harness works under a random key prefix (`ordergate_test_<hex>`), so tests never see each
other's streams, and deletes every key under it on `close`. They match the suites'
`PublisherHarness` / `SignalSourceHarness` Protocols structurally.

Test support only: `close` deletes keys, so never point a harness at a production prefix.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from ordergate.adapters.redis.publisher import RedisStreamPublisher, decode_entry
from ordergate.adapters.redis.signal_source import RedisSignalSource, publish_signal
from ordergate.domain.events import LifecycleEvent
from ordergate.domain.signals import Signal
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.signal_source import SignalSource

__all__ = ["RedisPublisherHarness", "RedisSignalSourceHarness", "delete_prefix"]


def _prefix() -> str:
    return f"ordergate_test_{uuid.uuid4().hex[:12]}"


async def delete_prefix(client: aioredis.Redis, prefix: str) -> int:
    """Delete every key under `prefix:`; how many were deleted."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
    return int(await client.delete(*keys)) if keys else 0


class RedisPublisherHarness:
    """A `RedisStreamPublisher` and a subscriber reading its all-events stream."""

    def __init__(self, client: aioredis.Redis, prefix: str, maxlen: int) -> None:
        self.client = client
        self.prefix = prefix
        self.redis_publisher = RedisStreamPublisher(client, prefix=prefix, maxlen=maxlen)
        self.publisher: EventPublisher = self.redis_publisher
        self._last_id = "0-0"
        self._received: list[LifecycleEvent] = []

    @classmethod
    async def create(cls, redis_url: str, *, maxlen: int = 10_000) -> RedisPublisherHarness:
        """A publisher under a fresh prefix of the Redis at `redis_url`."""
        return cls(aioredis.Redis.from_url(redis_url), _prefix(), maxlen)

    async def received(self, count: int, *, timeout: float) -> list[LifecycleEvent]:
        """Events read so far, in publish order, once `count` arrived or `timeout` passed."""
        stream = self.redis_publisher.all_events_stream
        assert stream is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._received) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            reply: Any = await self.client.xread(
                {stream: self._last_id}, block=max(1, int(min(remaining, 1.0) * 1000))
            )
            for _name, entries in reply or []:
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    self._received.append(decode_entry(fields))
        return list(self._received)

    async def close(self) -> None:
        """Delete the test streams and close the client."""
        try:
            await delete_prefix(self.client, self.prefix)
        finally:
            await self.client.aclose()


class RedisSignalSourceHarness:
    """A `RedisSignalSource` on a fresh stream, with producer-side controls."""

    def __init__(self, client: aioredis.Redis, prefix: str, visibility_timeout: float) -> None:
        self.client = client
        self.prefix = prefix
        self.stream = f"{prefix}:signals"
        self.visibility_timeout = visibility_timeout
        self.redis_source = RedisSignalSource(
            client, stream=self.stream, group="contract", visibility_timeout=visibility_timeout
        )
        self.source: SignalSource = self.redis_source

    @classmethod
    async def create(
        cls, redis_url: str, *, visibility_timeout: float = 0.5
    ) -> RedisSignalSourceHarness:
        """A source over an empty stream of the Redis at `redis_url`."""
        return cls(aioredis.Redis.from_url(redis_url), _prefix(), visibility_timeout)

    async def push(self, signal: Signal) -> None:
        """XADD a well-formed signal."""
        await publish_signal(self.client, self.stream, signal)

    async def push_raw(self, text: str) -> None:
        """XADD raw text as the `data` field."""
        await self.client.xadd(self.stream, {"data": text})

    async def expire_visibility(self) -> None:
        """Wait out the visibility timeout."""
        await asyncio.sleep(self.visibility_timeout + 0.1)

    async def dead_letters(self) -> list[tuple[str, str]]:
        """(`data`, reason) of every entry on the dead-letter stream, oldest first."""
        entries = await self.client.xrange(self.redis_source.dead_letter_stream)
        return [
            (fields[b"data"].decode("utf-8", "replace"), fields[b"reason"].decode())
            for _id, fields in entries
        ]

    async def close(self) -> None:
        """Delete the stream and close the client."""
        try:
            await delete_prefix(self.client, self.prefix)
        finally:
            await self.client.aclose()
