"""Harnesses that let the port contract suites drive the fakes.

Each harness satisfies (structurally) a harness Protocol of `ordergate.application.testing`:
`FakeBrokerHarness` a `BrokerHarness`, `FakeMarketDataHarness` a `MarketDataHarness`,
`InMemoryAuditLogHarness` an `AuditLogHarness`, and the clock, publisher and signal-source
harnesses the Protocols of the same names in `...testing.contracts`. Adapters never import the
application layer, so nothing here names those Protocols. Build with `await X.create()`, always
`await close()`. Nothing here may be used outside tests and demos.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from ordergate.adapters.fakes._stream import Subscription
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import decode_signal
from ordergate.domain.events import LifecycleEvent
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar
from ordergate.domain.signals import Signal
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.market_data import MarketData
from ordergate.ports.signal_source import SignalSource

__all__ = [
    "HARNESS_START",
    "FakeBrokerHarness",
    "FakeClockHarness",
    "FakeMarketDataHarness",
    "InMemoryAuditLogHarness",
    "InMemoryPublisherHarness",
    "InMemorySignalSourceHarness",
    "harness_instruments",
]

HARNESS_START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
"""10:00 in New York on a Tuesday: inside regular trading hours, a session close ahead."""

_CONNECT_TIMEOUT = 1.0


def harness_instruments() -> tuple[Stock, OptionContract, Stock]:
    """The (stock, option, unknown) instruments the fake harnesses use."""
    option = OptionContract(
        underlying="AAPL", expiry=date(2024, 4, 19), strike=Decimal(180), right=OptionRight.CALL
    )
    return Stock("AAPL"), option, Stock("ZZZZ")


class FakeBrokerHarness:
    """A connected `FakeBroker` on a `FakeClock` starting at `HARNESS_START`."""

    def __init__(self, fake: FakeBroker, clock: FakeClock) -> None:
        self.fake = fake
        self.clock = clock
        self.broker: Broker = fake
        self.stock, self.option, self.unknown = harness_instruments()

    @classmethod
    async def create(cls, start: datetime = HARNESS_START) -> FakeBrokerHarness:
        """Build and connect the broker."""
        clock = FakeClock(start)
        stock, option, _ = harness_instruments()
        fake = FakeBroker(clock, [stock, option])
        await fake.connect(timeout=_CONNECT_TIMEOUT)
        return cls(fake, clock)

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """The market trades at `price`."""
        self.fake.set_price(instrument, price)

    async def set_fill_limit(self, quantity: Decimal | None) -> None:
        """Cap each order's fill per price update."""
        self.fake.set_fill_limit(quantity)

    async def reject_next(self, reason: str) -> None:
        """Reject the next order."""
        self.fake.reject_next(reason)

    async def stall(self, seconds: float) -> None:
        """Delay the next reply."""
        self.fake.stall(seconds)

    async def advance(self, seconds: float) -> None:
        """Move the fake clock (orders expire as it passes their time)."""
        self.clock.advance(seconds)
        await asyncio.sleep(0)

    async def now(self) -> datetime:
        """The fake clock's time."""
        return self.clock.now()

    async def settle(self) -> None:
        """The fake emits synchronously; one loop turn lets subscribers wake."""
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Disconnect and end the event streams."""
        await self.fake.close()


class FakeMarketDataHarness:
    """A `FakeMarketData` on a `FakeClock` starting at `HARNESS_START`."""

    def __init__(self, fake: FakeMarketData, clock: FakeClock) -> None:
        self.fake = fake
        self.clock = clock
        self.market_data: MarketData = fake
        self.stock, _, self.unknown = harness_instruments()

    @classmethod
    async def create(cls, start: datetime = HARNESS_START) -> FakeMarketDataHarness:
        """Build the fake with the harness stock and option known."""
        clock = FakeClock(start)
        stock, option, _ = harness_instruments()
        return cls(FakeMarketData(clock, [stock, option]), clock)

    async def set_quote(self, instrument: Instrument, price: Decimal, age_seconds: float) -> None:
        """bid = ask = last = `price`, taken `age_seconds` ago."""
        self.fake.set_price(instrument, price, age_seconds=age_seconds)

    async def set_bars(self, instrument: Instrument, bars: Sequence[Bar]) -> None:
        """Replace the history."""
        self.fake.set_bars(instrument, bars)

    async def stall(self, seconds: float) -> None:
        """Delay the next reply."""
        self.fake.stall(seconds)

    async def now(self) -> datetime:
        """The fake clock's time."""
        return self.clock.now()

    async def close(self) -> None:
        """Nothing to release."""


class InMemoryAuditLogHarness:
    """An `InMemoryAuditLog` over a fresh `MemoryAuditStore`; `reopen` opens the same store."""

    def __init__(self, log: InMemoryAuditLog, store: MemoryAuditStore) -> None:
        self.log = log
        self.store = store
        self.audit_log: AuditLog = log

    @classmethod
    async def create(cls) -> InMemoryAuditLogHarness:
        """A log over an empty store (retention measured on the system clock)."""
        store = MemoryAuditStore()
        return cls(InMemoryAuditLog(store), store)

    async def tamper(self, sequence: int) -> None:
        """Change one stored character of record `sequence`."""
        self.log.tamper(sequence)

    async def reopen(self) -> AuditLog:
        """Close the log and open a new one on the same store."""
        await self.log.close()
        self.log = InMemoryAuditLog(self.store)
        self.audit_log = self.log
        return self.log

    async def close(self) -> None:
        """Close the current log."""
        await self.log.close()


class FakeClockHarness:
    """A `FakeClock` starting at `HARNESS_START`."""

    def __init__(self, fake: FakeClock) -> None:
        self.fake = fake
        self.clock: Clock = fake

    @classmethod
    async def create(cls, start: datetime = HARNESS_START) -> FakeClockHarness:
        """Build the clock."""
        return cls(FakeClock(start))

    async def advance(self, seconds: float) -> None:
        """Move the clock; woken sleepers get one loop turn to run."""
        self.fake.advance(seconds)
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Nothing to release."""


class InMemoryPublisherHarness:
    """An `InMemoryPublisher` with one subscriber attached from the start."""

    def __init__(self, fake: InMemoryPublisher) -> None:
        self.fake = fake
        self.publisher: EventPublisher = fake
        self._subscription: Subscription[LifecycleEvent] = fake.subscribe()
        self._received: list[LifecycleEvent] = []

    @classmethod
    async def create(cls) -> InMemoryPublisherHarness:
        """Build the publisher and its subscriber."""
        return cls(InMemoryPublisher())

    async def received(self, count: int, *, timeout: float) -> list[LifecycleEvent]:
        """What the subscriber got, once it has `count` events or `timeout` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._received) < count and (remaining := deadline - loop.time()) > 0:
            try:
                event = await asyncio.wait_for(self._subscription.__anext__(), remaining)
            except (TimeoutError, StopAsyncIteration):
                break
            self._received.append(event)
        return list(self._received)

    async def close(self) -> None:
        """Close the publisher (which ends the subscription)."""
        await self.fake.close()


class InMemorySignalSourceHarness:
    """An `InMemorySignalSource` on a `FakeClock`; `expire_visibility` advances past the
    visibility timeout. Raw text is decoded by `serialization.decode_signal`, as the Redis
    source decodes its entries."""

    VISIBILITY_TIMEOUT = 30.0

    def __init__(self, fake: InMemorySignalSource, clock: FakeClock) -> None:
        self.fake = fake
        self.clock = clock
        self.source: SignalSource = fake

    @classmethod
    async def create(cls, start: datetime = HARNESS_START) -> InMemorySignalSourceHarness:
        """Build the source."""
        clock = FakeClock(start)
        source = InMemorySignalSource(
            clock, visibility_timeout=cls.VISIBILITY_TIMEOUT, decode=decode_signal
        )
        return cls(source, clock)

    async def push(self, signal: Signal) -> None:
        """Queue a signal."""
        self.fake.push(signal)

    async def push_raw(self, text: str) -> None:
        """Queue raw text."""
        self.fake.push_raw(text)

    async def expire_visibility(self) -> None:
        """Advance the clock past the visibility timeout."""
        self.clock.advance(self.VISIBILITY_TIMEOUT + 1)
        await asyncio.sleep(0)

    async def dead_letters(self) -> list[tuple[str, str]]:
        """(raw text, reason) of every quarantined delivery, oldest first."""
        return [(letter.raw, letter.reason) for letter in self.fake.dead_letters]

    async def close(self) -> None:
        """Close the source."""
        await self.fake.close()
