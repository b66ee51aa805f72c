"""`SignalSourceContract` and `SignalSourceHarness`: the behaviour every `SignalSource` must show.

Provide a `signal_source_harness` fixture yielding a `SignalSourceHarness` over an empty queue
(and closing it) and subclass the contract (see `contracts.broker` for the pattern). The suite
must never depend on the transport: it pushes, receives, acknowledges and looks at deliveries.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import pytest

from ordergate.domain.instruments import Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.signal_source import SignalSource

__all__ = ["SignalSourceContract", "SignalSourceHarness", "sample_signal"]

TIMEOUT = 2.0
_EMPTY_WAIT = 0.1


class SignalSourceHarness(Protocol):
    """Controls around one `SignalSource` under test."""

    source: SignalSource

    async def push(self, signal: Signal) -> None:
        """Put a well-formed signal on the queue."""

    async def push_raw(self, text: str) -> None:
        """Put raw text on the queue, as a producer could (it may be malformed)."""

    async def expire_visibility(self) -> None:
        """Let enough time pass that unacknowledged deliveries are due again."""

    async def dead_letters(self) -> list[tuple[str, str]]:
        """(raw text, reason) of every quarantined delivery in the dead-letter store, oldest
        first."""

    async def close(self) -> None:
        """Release everything."""


def sample_signal(number: int) -> Signal:
    """A well-formed signal with id `SIG-<number>`."""
    return Signal(
        signal_id=SignalId(f"SIG-{number}"),
        instrument=Stock("AAPL"),
        side=Side.BUY,
        ts=datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
        quantity=Decimal(number),
    )


class SignalSourceContract:
    """At-least-once delivery, acknowledgement, malformed messages reported (not raised), each
    poison message confined to its own delivery, quarantine into a dead-letter store."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    async def test_pushed_signals_are_delivered_in_order(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        for number in (1, 2, 3):
            await h.push(sample_signal(number))
        deliveries = await h.source.receive(max_count=10, timeout=TIMEOUT)
        assert [sample_signal(n) for n in (1, 2, 3)] == [d.signal for d in deliveries]
        assert all(d.error == "" for d in deliveries)

    async def test_receive_returns_at_most_max_count(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        for number in range(1, 6):
            await h.push(sample_signal(number))
        first = await h.source.receive(max_count=2, timeout=TIMEOUT)
        rest = await h.source.receive(max_count=10, timeout=TIMEOUT)
        assert 2 == len(first)
        assert [sample_signal(n) for n in range(1, 6)] == [d.signal for d in first + rest]

    async def test_empty_receive_returns_nothing_within_its_timeout(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deliveries = await signal_source_harness.source.receive(max_count=5, timeout=_EMPTY_WAIT)
        assert [] == deliveries
        assert loop.time() - started < _EMPTY_WAIT + 1.0

    async def test_unacknowledged_delivery_is_delivered_again(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        await h.push(sample_signal(1))
        [first] = await h.source.receive(max_count=1, timeout=TIMEOUT)
        assert [] == await h.source.receive(max_count=1, timeout=_EMPTY_WAIT)
        await h.expire_visibility()
        again = await h.source.receive(max_count=1, timeout=TIMEOUT)
        assert [first.signal] == [d.signal for d in again]

    async def test_acknowledged_delivery_is_not_delivered_again(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        await h.push(sample_signal(1))
        await h.push(sample_signal(2))
        deliveries = await h.source.receive(max_count=2, timeout=TIMEOUT)
        await h.source.ack(deliveries[0].delivery_id)
        await h.expire_visibility()
        again = await h.source.receive(max_count=5, timeout=TIMEOUT)
        assert [sample_signal(2)] == [d.signal for d in again]

    async def test_acknowledging_twice_is_harmless(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        await h.push(sample_signal(1))
        [delivery] = await h.source.receive(max_count=1, timeout=TIMEOUT)
        await h.source.ack(delivery.delivery_id)
        await h.source.ack(delivery.delivery_id)
        await h.expire_visibility()
        assert [] == await h.source.receive(max_count=1, timeout=_EMPTY_WAIT)

    async def test_malformed_message_is_reported_not_raised(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        await h.push_raw("{not a signal")
        await h.push(sample_signal(7))
        deliveries = await h.source.receive(max_count=5, timeout=TIMEOUT)
        bad, good = deliveries
        assert (None, "{not a signal") == (bad.signal, bad.raw)
        assert bad.error != ""
        assert sample_signal(7) == good.signal
        await h.source.ack(bad.delivery_id)
        await h.expire_visibility()
        assert [sample_signal(7)] == [
            d.signal for d in await h.source.receive(max_count=5, timeout=TIMEOUT)
        ]

    async def test_poison_messages_concern_their_own_delivery_alone(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        deep = "[" * 5_000 + "]" * 5_000  # json.loads would raise RecursionError on this
        nested = '{"signal_id": "S", "x": ' + "[" * 9 + "]" * 9 + "}"
        huge = '{"signal_id": "' + "x" * 1_048_576 + '"}'
        poison = [deep, nested, huge, '{"a": 1, "a": 2}', '{"signal_id": "\\ud800"}', "[]", "null"]
        for text in poison:
            await h.push_raw(text)
        await h.push(sample_signal(1))
        deliveries = await h.source.receive(max_count=20, timeout=TIMEOUT)
        *bad, good = deliveries
        assert [None] * len(poison) == [d.signal for d in bad]
        assert all(d.error for d in bad)
        assert "deep" in bad[0].error
        assert "deep" in bad[1].error
        assert "bytes" in bad[2].error
        assert "more than once" in bad[3].error
        assert sample_signal(1) == good.signal

    async def test_quarantine_acknowledges_and_keeps_one_copy_with_the_reason(
        self, signal_source_harness: SignalSourceHarness
    ) -> None:
        h = signal_source_harness
        await h.push_raw("{not a signal")
        await h.push(sample_signal(2))
        bad, good = await h.source.receive(max_count=5, timeout=TIMEOUT)
        await h.source.quarantine(bad.delivery_id, "malformed: not JSON")
        await h.source.quarantine(bad.delivery_id, "malformed: not JSON")  # harmless repeat
        await h.source.ack(good.delivery_id)
        await h.source.quarantine(good.delivery_id, "already acknowledged")  # no copy
        await h.expire_visibility()
        assert [] == await h.source.receive(max_count=5, timeout=_EMPTY_WAIT)
        assert [("{not a signal", "malformed: not JSON")] == await h.dead_letters()
