"""`InMemorySignalSource`: a `SignalSource` queue with at-least-once delivery, for tests.

A delivery that is not acknowledged becomes due again once its visibility timeout has passed on
the source's clock (a `FakeClock` in tests, so redelivery happens exactly when a test advances
time). Raw text that cannot be decoded is delivered with `signal=None` and an `error`, never
raised (whatever the decoder raises). `quarantine` acknowledges a delivery and keeps a
`DeadLetter` copy in `dead_letters`, a list bounded like Redis' dead-letter stream (oldest
dropped first). It must never lose a message that was not acknowledged, nor deliver an
acknowledged one.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from ordergate.adapters.fakes.clock import FakeClock
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.signals import Signal
from ordergate.ports.clock import Clock
from ordergate.ports.signal_source import SignalDelivery

__all__ = ["DeadLetter", "InMemorySignalSource", "SignalDecoder"]

SignalDecoder = Callable[[str], Signal]
"""Parses one raw message; raises (any exception) when the text is not a valid signal."""


@attrs.frozen
class DeadLetter:
    """A quarantined delivery: what arrived (`raw`, or the pushed `signal`) and why not used."""

    delivery_id: str
    raw: str
    signal: Signal | None
    error: str
    reason: str


@attrs.define
class _Message:
    delivery_id: str
    signal: Signal | None
    raw: str
    error: str
    visible_at: datetime | None = None  # None: never delivered
    deliveries: int = 0

    def delivery(self) -> SignalDelivery:
        """This message as the port delivers it."""
        return SignalDelivery(self.delivery_id, self.signal, self.error, self.raw)


class InMemorySignalSource:
    """Signals in memory, redelivered `visibility_timeout` seconds (clock time) after a delivery
    that was not acknowledged.

    Controls: `push(signal)`, `push_raw(text)` (decoded with `decode` when one is given; without
    a decoder raw text is always delivered as malformed); `pending` / `in_flight` / `acked`,
    `dead_letters` and `delivery_count(delivery_id)` let tests look inside.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        visibility_timeout: float = 30.0,
        decode: SignalDecoder | None = None,
        dead_letter_capacity: int = 10_000,
    ) -> None:
        if visibility_timeout <= 0:
            raise InvalidValue(
                "InMemorySignalSource.visibility_timeout", visibility_timeout, "must be > 0"
            )
        if not isinstance(dead_letter_capacity, int) or dead_letter_capacity < 1:
            raise InvalidValue(
                "InMemorySignalSource.dead_letter_capacity", dead_letter_capacity, "must be >= 1"
            )
        self._clock = clock
        self._visibility = timedelta(seconds=visibility_timeout)
        self._decode = decode
        self._messages: dict[str, _Message] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._closed = False
        self.acked: list[str] = []
        self.dead_letters: deque[DeadLetter] = deque(maxlen=dead_letter_capacity)
        if isinstance(clock, FakeClock):
            clock.on_advance(lambda _now: self._arrived.set())

    # -- port --------------------------------------------------------------------------------
    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        """Up to `max_count` due deliveries, oldest first; waits at most `timeout` real seconds."""
        if max_count < 1:
            raise InvalidValue("InMemorySignalSource.receive.max_count", max_count, "must be >= 1")
        self._check_open("receive")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            due = self._take_due(max_count)
            remaining = deadline - loop.time()
            if due or remaining <= 0:
                return due
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return self._take_due(max_count)

    async def ack(self, delivery_id: str) -> None:
        """The delivery was processed; it is never delivered again. Repeats are harmless."""
        self._check_open("ack")
        if self._messages.pop(delivery_id, None) is not None:
            self.acked.append(delivery_id)

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        """Acknowledge the delivery and keep a `DeadLetter` copy (once; repeats are harmless)."""
        self._check_open("quarantine")
        message = self._messages.pop(delivery_id, None)
        if message is None:
            return
        self.acked.append(delivery_id)
        self.dead_letters.append(
            DeadLetter(delivery_id, message.raw, message.signal, message.error, reason)
        )

    async def close(self) -> None:
        """Stop serving; unacknowledged messages are kept in memory (but this handle is done)."""
        self._closed = True
        self._arrived.set()

    # -- controls ----------------------------------------------------------------------------
    def push(self, signal: Signal) -> str:
        """Queue one signal; returns its delivery id."""
        if not isinstance(signal, Signal):
            raise InvalidValue("InMemorySignalSource.push.signal", signal, "must be a Signal")
        return self._add(signal, raw="", error="")

    def push_raw(self, text: str) -> str:
        """Queue raw text as it would arrive on a wire; undecodable text becomes malformed."""
        if self._decode is None:
            return self._add(None, raw=text, error="no decoder configured for raw messages")
        try:
            signal = self._decode(text)
        except Exception as exc:  # any decoding failure is reported on the delivery, not raised
            return self._add(None, raw=text, error=f"{type(exc).__name__}: {exc}")
        return self._add(signal, raw=text, error="")

    @property
    def pending(self) -> int:
        """Messages not acknowledged yet (delivered or not)."""
        return len(self._messages)

    @property
    def in_flight(self) -> int:
        """Messages delivered, not acknowledged and not yet due again."""
        now = self._clock.now()
        return sum(
            1 for m in self._messages.values() if m.visible_at is not None and m.visible_at > now
        )

    def delivery_count(self, delivery_id: str) -> int:
        """How many times a (not yet acknowledged) message has been delivered."""
        message = self._messages.get(delivery_id)
        return 0 if message is None else message.deliveries

    # -- internals ---------------------------------------------------------------------------
    def _add(self, signal: Signal | None, *, raw: str, error: str) -> str:
        self._check_open("push")
        delivery_id = f"{next(self._ids)}-0"
        self._messages[delivery_id] = _Message(delivery_id, signal, raw, error)
        self._arrived.set()
        return delivery_id

    def _take_due(self, max_count: int) -> list[SignalDelivery]:
        now = self._clock.now()
        taken: list[SignalDelivery] = []
        for message in self._messages.values():
            if len(taken) >= max_count:
                break
            if message.visible_at is not None and message.visible_at > now:
                continue
            message.visible_at = now + self._visibility
            message.deliveries += 1
            taken.append(message.delivery())
        return taken

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise OrdergateError(f"signal source {operation}: the source is closed")
