"""InMemorySignalSource: visibility timeout on the fake clock, decoding, waiting, closing."""

from __future__ import annotations

import asyncio
import json

import pytest

from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.fakes.testing import HARNESS_START
from ordergate.application.testing.contracts.signal_source import sample_signal
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.signals import Signal


async def test_redelivery_waits_for_the_visibility_timeout() -> None:
    clock = FakeClock(HARNESS_START)
    source = InMemorySignalSource(clock, visibility_timeout=30)
    delivery_id = source.push(sample_signal(1))
    await source.receive(max_count=1, timeout=0.01)
    clock.advance(29)
    assert [] == await source.receive(max_count=1, timeout=0.01)
    assert 1 == source.in_flight
    clock.advance(1)
    [again] = await source.receive(max_count=1, timeout=0.01)
    assert (delivery_id, 2) == (again.delivery_id, source.delivery_count(delivery_id))


async def test_a_waiting_receive_wakes_on_push() -> None:
    source = InMemorySignalSource(FakeClock(HARNESS_START))
    waiting = asyncio.ensure_future(source.receive(max_count=1, timeout=5))
    await asyncio.sleep(0)
    source.push(sample_signal(2))
    assert [sample_signal(2)] == [d.signal for d in await asyncio.wait_for(waiting, 1)]


async def test_a_decoder_turns_raw_text_into_signals_or_errors() -> None:
    signal = sample_signal(3)

    def decode(text: str) -> Signal:
        if json.loads(text)["id"] != "SIG-3":
            raise ValueError("unknown signal")
        return signal

    source = InMemorySignalSource(FakeClock(HARNESS_START), decode=decode)
    source.push_raw('{"id": "SIG-3"}')
    source.push_raw('{"id": "other"}')
    good, bad = await source.receive(max_count=2, timeout=0.01)
    assert (signal, "") == (good.signal, good.error)
    assert (None, "ValueError: unknown signal") == (bad.signal, bad.error)


async def test_bad_requests_and_closed_sources_are_refused() -> None:
    source = InMemorySignalSource(FakeClock(HARNESS_START))
    with pytest.raises(InvalidValue):
        await source.receive(max_count=0, timeout=0.01)
    with pytest.raises(InvalidValue):
        source.push("text")  # type: ignore[arg-type]
    await source.close()
    with pytest.raises(OrdergateError):
        await source.receive(max_count=1, timeout=0.01)
