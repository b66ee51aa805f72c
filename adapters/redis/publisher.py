"""`RedisStreamPublisher`: the `EventPublisher` port on Redis Streams.

Each event is XADDed, with an approximate `MAXLEN ~ N` bound, to the topic of its type
(`adapters/topics.py`, the scheme every publisher shares; seed 002's `positions:stream` and
`pnl:stream` among them), under the configured prefix (none by default), and, in the same MULTI,
to `events:stream` (all types, one order): per-type streams cannot tell a subscriber how events
of different types interleaved, the combined one can. Entry fields:
`type`, `version`, `correlation_id` and `data` (the cattrs JSON of `serialization.encode_event`).

This adapter must never swallow a failed XADD (it raises `RedisUnavailable`) and never log a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aioredis

from ordergate.adapters.redis.config import RedisConfig, RedisUnavailable, connect
from ordergate.adapters.serialization import decode_event, encode_event
from ordergate.adapters.topics import TOPIC_NAMES, Topics
from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import (
    LifecycleEvent,
)

__all__ = ["TOPICS", "RedisStreamPublisher", "decode_entry"]

TOPICS: Mapping[type, str] = TOPIC_NAMES
"""The topics without prefix (`adapters/topics.py`, the scheme every publisher shares)."""
"""Topic (without prefix) of each lifecycle event type."""


def decode_entry(fields: Mapping[bytes | str, bytes | str]) -> LifecycleEvent:
    """The event held by one stream entry (raises `InvalidValue` if it is not one)."""
    data = fields.get(b"data", fields.get("data"))
    if data is None:
        raise InvalidValue("stream entry", sorted(map(str, fields)), "has no `data` field")
    return decode_event(data)


class RedisStreamPublisher:
    """Publishes lifecycle events to bounded Redis streams, one topic per event family."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "",
        maxlen: int = 100_000,
        all_events: bool = True,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self.topics = Topics(prefix)
        self._maxlen = maxlen
        self._all = self.topics.all_events if all_events else None
        self._owns_client = owns_client

    @classmethod
    def from_config(
        cls, config: RedisConfig, environ: Mapping[str, str] | None = None
    ) -> RedisStreamPublisher:
        """A publisher with its own client (closed by `close`)."""
        return cls(
            connect(config, environ),
            prefix=config.prefix,
            maxlen=config.stream_maxlen,
            all_events=config.all_events,
            owns_client=True,
        )

    def topic_for(self, event: LifecycleEvent) -> str:
        """The stream key `event` goes to."""
        return self.topics.for_event(event)

    @property
    def all_events_stream(self) -> str | None:
        """The stream holding every event in publish order (None when disabled)."""
        return self._all

    async def publish(self, event: LifecycleEvent) -> None:
        """XADD `event` to its topic (and the all-events stream) in one MULTI/EXEC."""
        topic = self.topic_for(event)
        fields: dict[Any, Any] = {  # redis-py's own field types are invariant dicts
            "type": type(event).__name__,
            "version": event.version,
            "correlation_id": "" if event.correlation_id is None else event.correlation_id.value,
            "data": encode_event(event),
        }
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.xadd(topic, fields, maxlen=self._maxlen, approximate=True)
                if self._all is not None:
                    pipe.xadd(self._all, fields, maxlen=self._maxlen, approximate=True)
                await pipe.execute()
        except redis.RedisError as exc:
            raise RedisUnavailable(
                f"publishing {type(event).__name__} to {topic} failed: {exc}"
            ) from exc

    async def close(self) -> None:
        """Release the client if this publisher created it."""
        if self._owns_client:
            await self._client.aclose()
