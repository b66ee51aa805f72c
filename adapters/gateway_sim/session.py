"""One client connection of the gateway emulator: its negotiated version, client id, the
subscriptions it holds, and an ordered outgoing queue that can be delayed by a fault.

Writes never block the caller: messages are framed and queued, and one writer task drains the
queue in order, sleeping until each message is due. The queue is bounded in bytes: past
`OUTBOUND_SOFT_BYTES` the server stops reading the client's requests until it has read its
answers (`wait_for_room`: TCP backpressure on a client that floods without reading); past
`OUTBOUND_HARD_BYTES` (pushes it never reads) the connection is dropped. This module knows
nothing of trading; it must never import `ib_async` or call the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import attrs

from ordergate.adapters.gateway_sim.framing import encode_frame

__all__ = ["OUTBOUND_HARD_BYTES", "OUTBOUND_SOFT_BYTES", "ClientSession", "Subscriptions"]

OUTBOUND_SOFT_BYTES = 1024 * 1024
"""Queued answers past which the server reads no more requests from that client."""

OUTBOUND_HARD_BYTES = 32 * 1024 * 1024
"""Queued answers past which the client is taken for gone and its connection dropped."""

_log = logging.getLogger(__name__)


@attrs.define
class Subscriptions:
    """What a client asked to be kept informed of, keyed by its request ids."""

    positions: bool = False
    account_updates: str | None = None
    account_multi: dict[int, str] = attrs.Factory(dict)
    account_summary: dict[int, frozenset[str]] = attrs.Factory(dict)
    pnl: dict[int, str] = attrs.Factory(dict)
    pnl_single: dict[int, tuple[str, int]] = attrs.Factory(dict)
    market_data: dict[int, int] = attrs.Factory(dict)


class ClientSession:
    """State and output of one connection; `client_id` is None until startApi."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        version: int,
        peer: str,
    ) -> None:
        self.version = version
        self.peer = peer
        self.client_id: int | None = None
        self.market_data_type = 1
        self.subscriptions = Subscriptions()
        self.announced_perm_ids: set[int] = set()
        self.messages_in_window = 0
        self.window_started = 0.0
        self._writer = writer
        self._queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        self._flush_waiters: list[asyncio.Future[None]] = []
        self._task = asyncio.get_running_loop().create_task(self._drain(), name=f"gw-{peer}")
        self._closing = False
        self.queued_bytes = 0
        """Bytes framed and queued but not yet handed to the socket."""
        self._room = asyncio.Event()
        self._room.set()

    @property
    def is_open(self) -> bool:
        """False once `close` has started."""
        return not self._closing

    def send(self, message: list[str], delay: float = 0.0) -> None:
        """Queue one message (already-rendered fields), due `delay` seconds from now."""
        if self._closing:
            return
        due = asyncio.get_running_loop().time() + delay
        frame = encode_frame(message)
        self.queued_bytes += len(frame)
        if self.queued_bytes > OUTBOUND_HARD_BYTES:
            _log.warning("%s (client %s) reads none of its %s queued bytes; dropping it",
                         self.peer, self.client_id, self.queued_bytes)
            self._closing = True
            self._writer.transport.abort()
            self._task.cancel()
            return
        if self.queued_bytes > OUTBOUND_SOFT_BYTES:
            self._room.clear()
        self._queue.put_nowait((due, frame))

    async def wait_for_room(self) -> None:
        """Return once the queued answers are below `OUTBOUND_SOFT_BYTES / 2` (at once if so)."""
        if not self._room.is_set() and not self._closing:
            await self._room.wait()

    def send_all(self, messages: Iterable[list[str]], delay: float = 0.0) -> None:
        """Queue several messages in order."""
        for message in messages:
            self.send(message, delay)

    def send_raw(self, data: bytes) -> None:
        """Write bytes at once, bypassing the queue (the handshake reply)."""
        self._writer.write(data)

    async def flush(self) -> None:
        """Wait until everything queued so far has been written."""
        if self._task.done():
            return
        marker = asyncio.get_running_loop().create_future()
        self._flush_waiters.append(marker)
        self._queue.put_nowait(None)
        await marker

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    waiter = self._flush_waiters.pop(0)
                    if not waiter.done():
                        waiter.set_result(None)
                    continue
                due, frame = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._writer.is_closing():
                    continue
                self._writer.write(frame)
                await self._writer.drain()
                self.queued_bytes -= len(frame)
                if self.queued_bytes <= OUTBOUND_SOFT_BYTES // 2:
                    self._room.set()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._room.set()
            for waiter in self._flush_waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def close(self, *, abort: bool = False) -> None:
        """Close the connection: flushed and orderly, or `abort`ed at once (a dropped link)."""
        if self._closing:
            return
        if not abort:
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(self.flush(), timeout=5)
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        transport = self._writer.transport
        if abort:
            transport.abort()
        else:
            self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
        _log.debug("session %s (client %s) closed", self.peer, self.client_id)
