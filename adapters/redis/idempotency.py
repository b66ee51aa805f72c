"""Helpers for consumers of an at-least-once `SignalSource`: remember which signal ids were seen.

`SeenSignals` is an in-process, bounded memory (least recently seen forgotten first);
`RedisSeenSignals` is shared by every consumer of a group (`SET key NX EX ttl`), so a delivery
reclaimed by another process is recognised too. Both answer "is this the first time?" and
record the id in one step.

Neither may be used as the only guard against duplicate orders: the risk gate also denies a
signal id it has seen (SPEC §4.5); these stop the duplicate earlier and cheaper. A plain string is
checked by `SignalId`'s rule first (1-64 printable ASCII characters): a NUL or a megabyte never
becomes a key or a remembered id.
"""

from __future__ import annotations

from collections import OrderedDict

import redis
import redis.asyncio as aioredis

from ordergate.adapters.redis.config import RedisUnavailable
from ordergate.domain.values import SignalId

__all__ = ["RedisSeenSignals", "SeenSignals"]


def _key(signal_id: SignalId | str) -> str:
    return (signal_id if isinstance(signal_id, SignalId) else SignalId(signal_id)).value


class SeenSignals:
    """The `capacity` signal ids this process saw most recently (least recent forgotten first)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, signal_id: SignalId | str) -> bool:
        """True the first time `signal_id` is offered (and remember it); False afterwards."""
        key = _key(signal_id)
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, signal_id: object) -> bool:
        return str(signal_id) in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class RedisSeenSignals:
    """Signal ids seen by any consumer, kept in Redis for `ttl_seconds`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_prefix: str = "ordergate:signals:seen",
        ttl_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._ttl = ttl_seconds

    async def first_time(self, signal_id: SignalId | str) -> bool:
        """True for the first consumer to offer `signal_id` within the TTL; False afterwards."""
        key = _key(signal_id)
        try:
            created = await self._client.set(f"{self._prefix}:{key}", "1", nx=True, ex=self._ttl)
        except redis.RedisError as exc:
            raise RedisUnavailable(f"recording signal {signal_id} as seen failed: {exc}") from exc
        return bool(created)
