"""`ClockContract` and `ClockHarness`: the behaviour every `Clock` adapter must show.

Provide a `clock_harness` fixture yielding a `ClockHarness` (and closing it) and subclass the
contract (see `contracts.broker` for the pattern). The durations are small so a wall clock, whose
harness `advance` simply waits, runs the suite quickly. The suite must never assume a fake clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

import pytest

from ordergate.ports.clock import Clock

__all__ = ["ClockContract", "ClockHarness"]

_SLEEP = 0.2


class ClockHarness(Protocol):
    """Controls around one `Clock` under test."""

    clock: Clock

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of the clock's time pass (a fake moves; a wall clock waits)."""

    async def close(self) -> None:
        """Release everything."""


async def _yield_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class ClockContract:
    """`now()` is aware UTC and never goes backwards; `sleep` waits the clock's own time."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    async def test_now_is_aware_utc(self, clock_harness: ClockHarness) -> None:
        now = clock_harness.clock.now()
        assert timedelta(0) == now.utcoffset()

    async def test_now_never_goes_backwards(self, clock_harness: ClockHarness) -> None:
        clock = clock_harness.clock
        readings = [clock.now()]
        for _ in range(5):
            await clock_harness.advance(0.01)
            readings.extend(clock.now() for _ in range(100))
        assert readings == sorted(readings)
        assert readings[-1] > readings[0]

    async def test_sleep_waits_for_the_clock_to_pass_its_deadline(
        self, clock_harness: ClockHarness
    ) -> None:
        clock = clock_harness.clock
        started = clock.now()
        sleeper = asyncio.ensure_future(clock.sleep(_SLEEP))
        await _yield_loop()  # let the sleeper start before time moves
        try:
            await clock_harness.advance(_SLEEP / 2)
            await _yield_loop()
            assert not sleeper.done()
            await clock_harness.advance(_SLEEP)
            await asyncio.wait_for(sleeper, timeout=5.0)
        finally:
            sleeper.cancel()
        assert clock.now() - started >= timedelta(seconds=_SLEEP)

    async def test_sleepers_wake_in_deadline_order(self, clock_harness: ClockHarness) -> None:
        clock = clock_harness.clock
        woke: list[int] = []

        async def sleeper(label: int, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(label)

        tasks = [asyncio.ensure_future(sleeper(n, _SLEEP * n / 3)) for n in (3, 1, 2)]
        await _yield_loop()
        try:
            await clock_harness.advance(_SLEEP * 1.5)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=5.0)
        finally:
            for task in tasks:
                task.cancel()
        assert [1, 2, 3] == woke

    async def test_zero_sleep_returns(self, clock_harness: ClockHarness) -> None:
        await asyncio.wait_for(clock_harness.clock.sleep(0), timeout=1.0)
