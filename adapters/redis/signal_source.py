"""`RedisSignalSource`: the `SignalSource` port on a Redis stream with a consumer group.

- `receive` first reclaims (XAUTOCLAIM) deliveries that some consumer of the group took more than
  `visibility_timeout` seconds ago without acknowledging — whoever it was, it crashed or stalled —
  then reads new entries (XREADGROUP `>`), blocking in short slices up to `timeout`.
- `ack` is XACK: the entry leaves the group's pending list and is not delivered again.
- An entry whose `data` is not a valid signal is delivered as `SignalDelivery(signal=None,
  error=…, raw=…)`, never raised, so the consumer can record and quarantine it. Whatever goes
  wrong parsing one entry (too large, nested too deep, not UTF-8, not JSON, a bad value, or any
  other exception) concerns that entry alone; `raw` keeps at most `RAW_CHARS` characters.
- `quarantine` acknowledges an entry and copies it, with the reason, to the dead-letter stream
  (`<stream>:dead` unless named; XADD MAXLEN `dead_letter_maxlen`), atomically and at most once
  per entry (one Lua script: the copy is made only when the XACK acknowledged something).

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

__all__ = ["DEAD_LETTER_BYTES", "RAW_CHARS", "RedisSignalSource", "parse_entry", "publish_signal"]

_SLICE_SECONDS = 1.0  # longest single XREADGROUP BLOCK: stays under the client's socket timeout


async def publish_signal(
    client: aioredis.Redis, stream: str, signal: Signal, *, maxlen: int | None = None
) -> str:
    """Producer side: XADD `signal` to `stream` as the source expects; returns the entry id."""
    entry = await client.xadd(stream, {"data": encode_signal(signal)}, maxlen=maxlen)
    return entry.decode() if isinstance(entry, bytes) else str(entry)


RAW_CHARS = 4096
"""How much of a malformed entry's `data` a delivery carries as `raw` (the dead letter keeps
up to `DEAD_LETTER_BYTES`)."""
DEAD_LETTER_BYTES = 65_536
"""How much of an entry's `data` its dead-letter copy keeps."""

# KEYS: stream, dead-letter stream. ARGV: group, entry id, maxlen, reason, data, field names.
_QUARANTINE = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', 'delivery_id', ARGV[2],
             'stream', KEYS[1], 'reason', ARGV[4], 'data', ARGV[5], 'fields', ARGV[6])
end
return acked
"""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_entry(entry_id: Any, fields: Mapping[Any, Any] | None) -> SignalDelivery:
    """One stream entry as a delivery: the signal, or why it is not one (never raises)."""
    delivery_id = _text(entry_id)
    try:
        return _parse(delivery_id, fields)
    except Exception as exc:  # anything at all: this entry is malformed, the batch goes on
        return SignalDelivery(delivery_id, None, error=f"{type(exc).__name__}: {exc}"[:2000])


def _parse(delivery_id: str, fields: Mapping[Any, Any] | None) -> SignalDelivery:
    if not fields:
        return SignalDelivery(delivery_id, None, error="entry has no fields (deleted or empty)")
    data = fields.get(b"data", fields.get("data"))
    if data is None:
        keys = ", ".join(sorted(_text(k)[:64] for k in list(fields)[:20]))
        return SignalDelivery(delivery_id, None, error=f"entry has no `data` field ({keys})")
    raw = _text(data[: RAW_CHARS * 4] if isinstance(data, bytes) else data)[:RAW_CHARS]
    try:
        return SignalDelivery(delivery_id, decode_signal(data), raw=raw)
    except Exception as exc:  # InvalidValue above all; the caller also catches the rest
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
        dead_letter_stream: str | None = None,
        dead_letter_maxlen: int = 10_000,
        owns_client: bool = False,
    ) -> None:
        if not isinstance(dead_letter_maxlen, int) or dead_letter_maxlen < 1:
            raise InvalidValue(
                "RedisSignalSource.dead_letter_maxlen", dead_letter_maxlen, "must be >= 1"
            )
        self._client = client
        self._stream = stream
        self.dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        self._dead_maxlen = dead_letter_maxlen
        self._quarantine_script = client.register_script(_QUARANTINE)
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

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        """XACK the entry and, if that acknowledged it, XADD a copy (its `data`, up to
        `DEAD_LETTER_BYTES`, its field names and `reason`) to the dead-letter stream."""
        try:
            found = await self._client.xrange(self._stream, delivery_id, delivery_id, count=1)
            fields: Mapping[Any, Any] = (found[0][1] if found else None) or {}
            data = fields.get(b"data", fields.get("data", b""))
            data = data if isinstance(data, bytes) else str(data).encode("utf-8", "replace")
            names = ",".join(_text(k)[:64] for k in list(fields)[:20])
            await self._quarantine_script(
                keys=[self._stream, self.dead_letter_stream],
                args=[
                    self._group,
                    delivery_id,
                    self._dead_maxlen,
                    reason[:2000],
                    data[:DEAD_LETTER_BYTES],
                    names,
                ],
            )
        except redis.RedisError as exc:
            raise RedisUnavailable(
                f"quarantine of {delivery_id} on {self._stream} failed: {exc}"
            ) from exc

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
