"""`RedisSignalSource`: the `SignalSource` port on a Redis stream with a consumer group.

- `receive` first reclaims (XAUTOCLAIM) deliveries that some consumer of the group took more than
  `visibility_timeout` seconds ago without acknowledging — whoever it was, it crashed or stalled —
  then reads new entries (XREADGROUP `>`), blocking in short slices up to `timeout`.
- `ack` is XACK: the entry leaves the group's pending list and is not delivered again.
- An entry whose `data` is not a valid signal is delivered as `SignalDelivery(signal=None,
  error=…, raw=…)`, never raised, so the consumer can record and acknowledge it.

Delivery is at least once: a consumer must be idempotent by `signal_id` (see `idempotency`).
Producers XADD a field `data` holding `serialization.encode_signal(signal)` (`publish_signal`).

This adapter must never raise on a malformed message, never ack on the consumer's behalf, and
never log a URL.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aioredis

from ordergate.adapters.redis.config import RedisConfig, RedisUnavailable, connect
from ordergate.adapters.serialization import decode_signal, encode_signal
from ordergate.domain.errors import InvalidValue
from ordergate.domain.signals import Signal
from ordergate.ports.signal_source import SignalDelivery

__all__ = ["RedisSignalSource", "publish_signal"]

_SLICE_SECONDS = 1.0  # longest single XREADGROUP BLOCK: stays under the client's socket timeout


async def publish_signal(
    client: aioredis.Redis, stream: str, signal: Signal, *, maxlen: int | None = None
) -> str:
    """Producer side: XADD `signal` to `stream` as the source expects; returns the entry id."""
    entry = await client.xadd(stream, {"data": encode_signal(signal)}, maxlen=maxlen)
    return entry.decode() if isinstance(entry, bytes) else str(entry)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_entry(entry_id: Any, fields: Mapping[Any, Any] | None) -> SignalDelivery:
    """One stream entry as a delivery: the signal, or why it is not one (never raises)."""
    delivery_id = _text(entry_id)
    if not fields:
        return SignalDelivery(delivery_id, None, error="entry has no fields (deleted or empty)")
    data = fields.get(b"data", fields.get("data"))
    if data is None:
        keys = ", ".join(sorted(_text(k) for k in fields))
        return SignalDelivery(delivery_id, None, error=f"entry has no `data` field ({keys})")
    raw = _text(data)
    try:
        return SignalDelivery(delivery_id, decode_signal(data), raw=raw)
    except InvalidValue as exc:
        return SignalDelivery(delivery_id, None, error=str(exc), raw=raw)


class RedisSignalSource:
    """Signals from one stream through one consumer group (see module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        stream: str,
        group: str = "ordergate",
        consumer: str | None = None,
        visibility_timeout: float = 30.0,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._stream = stream
        self._group = group
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._visibility_ms = max(1, int(visibility_timeout * 1000))
        self._owns_client = owns_client
        self._group_ready = False
        self._claim_cursor = "0-0"

    @classmethod
    def from_config(
        cls, config: RedisConfig, environ: Mapping[str, str] | None = None
    ) -> RedisSignalSource:
        """A source with its own client (closed by `close`)."""
        return cls(
            connect(config, environ),
            stream=config.signal_stream,
            group=config.consumer_group,
            visibility_timeout=config.visibility_timeout,
            owns_client=True,
        )

    @property
    def consumer(self) -> str:
        """This consumer's name within the group."""
        return self._consumer

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        """Up to `max_count` deliveries — overdue ones first — waiting at most `timeout` s."""
        if max_count < 1:
            raise InvalidValue("receive(max_count)", max_count, "must be at least 1")
        try:
            await self._ensure_group()
            deliveries = await self._reclaim(max_count)
            if len(deliveries) < max_count:
                deliveries += await self._read_new(
                    max_count - len(deliveries), 0.0 if deliveries else timeout
                )
            return deliveries
        except redis.RedisError as exc:
            raise RedisUnavailable(f"receiving from {self._stream} failed: {exc}") from exc

    async def ack(self, delivery_id: str) -> None:
        """XACK the delivery; acknowledging twice is harmless."""
        try:
            await self._client.xack(self._stream, self._group, delivery_id)
        except redis.RedisError as exc:
            raise RedisUnavailable(f"ack of {delivery_id} on {self._stream} failed: {exc}") from exc

    async def close(self) -> None:
        """Release the client if this source created it (pending deliveries stay pending)."""
        if self._owns_client:
            await self._client.aclose()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _reclaim(self, count: int) -> list[SignalDelivery]:
        reply = await self._client.xautoclaim(
            self._stream,
            self._group,
            self._consumer,
            min_idle_time=self._visibility_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        next_cursor, claimed = reply[0], reply[1]
        self._claim_cursor = _text(next_cursor)
        return [parse_entry(entry_id, fields) for entry_id, fields in claimed]

    async def _read_new(self, count: int, timeout: float) -> list[SignalDelivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            remaining = deadline - loop.time()
            block = int(min(remaining, _SLICE_SECONDS) * 1000) if remaining > 0 else None
            reply = await self._client.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: ">"},
                count=count,
                block=block if block else None,
            )
            entries = _entries(reply)
            if entries or loop.time() >= deadline:
                return [parse_entry(entry_id, fields) for entry_id, fields in entries]


def _entries(reply: Any) -> list[tuple[Any, Any]]:
    """XREADGROUP's reply (RESP2 list or RESP3 dict) as (id, fields) pairs of our one stream."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for batch in reply.values() for entry in (batch[0] if batch else [])]
    return [entry for _stream, batch in reply for entry in batch]
