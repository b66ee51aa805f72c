"""`BufferedPublisher`: publishing after the fact, best effort, never in an order's way.

Lifecycle events are a courtesy to subscribers; they can be rebuilt from the audit log and the
broker. So `publish` only appends the event to a bounded buffer and returns: it never awaits
the transport, never raises for the transport's failures, and so can neither fail, delay nor
block an order, a closure or the broker-event pump. A drain task sends the buffer to the wrapped
publisher in order, retrying the event at its head with exponential backoff while the transport
is down; when the buffer is full the oldest event is dropped (and counted).

An outage (the first failed send after a success, or after start) is counted and audited once
when it starts (`publisher.outage_started`) and once when it ends (`publisher.outage_ended`:
when a send succeeds again, or at `close` if it never did). Those records are not on any order's
path: a failing audit store delays them to the next turn of the drain, it never stops an order.

This module must never let a transport error escape `publish`, and never reorder events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import datetime
from typing import Any

import attrs

from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import LifecycleEvent
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["BufferedPublisher", "PublisherHealth"]

_log = logging.getLogger(__name__)


@attrs.frozen
class PublisherHealth:
    """Counters of a `BufferedPublisher`: what was sent, what waits, what was lost."""

    published: int
    buffered: int
    dropped: int
    refused: int
    failed_attempts: int
    outages: int
    in_outage: bool


class BufferedPublisher:
    """An `EventPublisher` wrapping another: `publish` buffers; a task sends, with retry.

    `capacity` bounds the buffer (the oldest event is dropped when full); a send that takes
    longer than `send_timeout` seconds counts as a failure; retries wait `retry_initial`,
    doubling up to `retry_max` seconds; `close` waits up to `close_timeout` seconds for the
    buffer to drain before giving up on what is left.
    """

    def __init__(
        self,
        inner: EventPublisher,
        *,
        audit: AuditLog,
        clock: Clock,
        capacity: int = 10_000,
        send_timeout: float = 5.0,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        close_timeout: float = 2.0,
    ) -> None:
        if capacity < 1:
            raise InvalidValue("BufferedPublisher.capacity", capacity, "must be at least 1")
        for name, value in (
            ("send_timeout", send_timeout),
            ("retry_initial", retry_initial),
            ("retry_max", retry_max),
        ):
            if value <= 0:
                raise InvalidValue(f"BufferedPublisher.{name}", value, "must be > 0 seconds")
        self.inner = inner
        self._audit = audit
        self._clock = clock
        self._capacity = capacity
        self._send_timeout = send_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._close_timeout = close_timeout
        self._buffer: deque[LifecycleEvent] = deque()
        self._records: deque[AuditRecord] = deque()  # outage records not yet durable
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The send timeout, kept by one watchdog timer rather than a timer per event (see `_send`).
        self._sends = 0  # sends started so far; the one in flight is number `_sends`
        self._send_started: float | None = None  # loop time the send in flight started
        self._timed_out = 0  # the send the watchdog cancelled (0: none)
        self._watchdog: asyncio.TimerHandle | None = None
        self._closing = False
        self._published = 0
        self._dropped = 0
        self._refused = 0
        self._failed_attempts = 0
        self._outages = 0
        self._outage: dict[str, Any] | None = None  # the current outage's facts

    # -- the EventPublisher port ---------------------------------------------------------------
    async def publish(self, event: LifecycleEvent) -> None:
        """Buffer `event` for sending and return at once (never raises for the transport)."""
        if self._closing:
            self._dropped += 1
            return
        if len(self._buffer) >= self._capacity:
            self._buffer.popleft()
            self._dropped += 1
        self._buffer.append(event)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def close(self) -> None:
        """Send what is buffered (for at most `close_timeout` s), end any outage, close the
        transport. What could not be sent is counted as dropped."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=self._close_timeout)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._dropped += len(self._buffer)
        self._buffer.clear()
        if self._outage is not None:
            self._end_outage(recovered=False)
        await self._flush_records()
        try:
            await asyncio.wait_for(self.inner.close(), self._close_timeout)
        except Exception as exc:  # closing a broken transport must not fail the shutdown
            _log.warning("closing the event publisher failed: %s: %s", type(exc).__name__, exc)

    # -- what it has done -----------------------------------------------------------------------
    def health(self) -> PublisherHealth:
        """The counters so far."""
        return PublisherHealth(
            published=self._published,
            buffered=len(self._buffer),
            dropped=self._dropped,
            refused=self._refused,
            failed_attempts=self._failed_attempts,
            outages=self._outages,
            in_outage=self._outage is not None,
        )

    async def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the buffer to empty, unless the transport is down
        (then return at once: an outage is never waited for). True if nothing is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._buffer or self._records) and self._outage is None:
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0)
        return not self._buffer and not self._records

    # -- the drain ------------------------------------------------------------------------------
    async def _drain(self) -> None:
        delay = self._retry_initial
        while True:
            await self._flush_records()
            if not self._buffer:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            event = self._buffer[0]
            try:
                await self._send(event)
            except InvalidValue as exc:  # this event can never be sent: skip it, go on
                self._refused += 1
                self._pop(event)
                _log.warning("the publisher refused %s: %s", type(event).__name__, exc)
                continue
            except Exception as exc:  # the transport is down (or too slow): retry later
                self._failed_attempts += 1
                if self._outage is None:
                    self._start_outage(exc)
                    await self._flush_records()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._pop(event)
            self._published += 1
            delay = self._retry_initial
            if self._outage is not None:
                self._end_outage(recovered=True)

    async def _send(self, event: LifecycleEvent) -> None:
        """`inner.publish(event)`, raising `TimeoutError` if it takes over `send_timeout` s.

        `asyncio.timeout` per event would schedule and cancel a timer for every event of a
        burst; instead one watchdog timer (`_watch`) looks at the send in flight when it fires,
        cancels the drain if that send is overdue, and is re-armed only while sends go on.
        """
        loop = asyncio.get_running_loop()
        self._sends += 1
        number = self._sends
        self._send_started = loop.time()
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._send_started + self._send_timeout, self._watch)
        try:
            await self.inner.publish(event)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._timed_out == number and task is not None and task.uncancel() == 0:
                raise TimeoutError(
                    f"publishing took longer than send_timeout={self._send_timeout} s"
                ) from None
            raise
        finally:
            self._send_started = None

    def _watch(self) -> None:
        """The watchdog: cancel the drain if the send in flight is overdue; re-arm while sending."""
        self._watchdog = None
        started, task = self._send_started, self._task
        if started is None or task is None or task.done():
            return  # nothing in flight: the next send arms it again
        loop = asyncio.get_running_loop()
        deadline = started + self._send_timeout
        if loop.time() >= deadline:
            self._timed_out = self._sends
            task.cancel()
        else:
            self._watchdog = loop.call_at(deadline, self._watch)

    def _pop(self, event: LifecycleEvent) -> None:
        # The head may have been dropped by an overflow while the send was in flight.
        if self._buffer and self._buffer[0] is event:
            self._buffer.popleft()

    def _start_outage(self, exc: Exception) -> None:
        self._outages += 1
        now = self._clock.now()
        self._outage = {
            "started": now,
            "failed_before": self._failed_attempts - 1,
            "dropped_before": self._dropped,
        }
        error = f"{type(exc).__name__}: {exc}"
        _log.warning("event publisher outage %d started: %s", self._outages, error)
        self._records.append(
            AuditRecord(
                "publisher.outage_started",
                now,
                {"outage": self._outages, "error": error, "buffered": len(self._buffer)},
            )
        )

    def _end_outage(self, *, recovered: bool) -> None:
        outage, self._outage = self._outage, None
        if outage is None:
            return
        now = self._clock.now()
        started: datetime = outage["started"]
        _log.warning("event publisher outage %d ended (recovered: %s)", self._outages, recovered)
        self._records.append(
            AuditRecord(
                "publisher.outage_ended",
                now,
                {
                    "outage": self._outages,
                    "recovered": recovered,
                    "started": started.isoformat(),
                    "failed_attempts": self._failed_attempts - outage["failed_before"],
                    "dropped": self._dropped - outage["dropped_before"],
                },
            )
        )

    async def _flush_records(self) -> None:
        while self._records:
            try:
                await self._audit.append(self._records[0])
            except Exception as exc:  # not on an order's path: keep it, try again next turn
                _log.warning("recording a publisher outage failed: %s: %s", type(exc).__name__, exc)
                return
            self._records.popleft()
