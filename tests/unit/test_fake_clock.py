"""FakeClock: time moves only when told, never backwards, and wakes due sleepers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.testing import HARNESS_START
from ordergate.domain.errors import InvalidValue


async def test_advance_wakes_only_the_sleepers_that_are_due() -> None:
    clock = FakeClock(HARNESS_START)
    short = asyncio.ensure_future(clock.sleep(10))
    long = asyncio.ensure_future(clock.sleep(60))
    await asyncio.sleep(0)
    assert 2 == clock.sleepers
    clock.advance(10)
    await asyncio.sleep(0)
    assert (True, False) == (short.done(), long.done())
    clock.advance(50)
    await asyncio.wait_for(long, 1.0)
    assert 0 == clock.sleepers


def test_time_never_goes_backwards() -> None:
    clock = FakeClock(HARNESS_START)
    with pytest.raises(InvalidValue):
        clock.advance(-1)
    with pytest.raises(InvalidValue):
        clock.set(HARNESS_START - timedelta(seconds=1))
    assert HARNESS_START == clock.now()


def test_start_must_be_aware_utc() -> None:
    with pytest.raises(InvalidValue):
        FakeClock(datetime(2024, 1, 1))


def test_listeners_hear_every_move() -> None:
    clock = FakeClock(HARNESS_START)
    heard: list[datetime] = []
    clock.on_advance(heard.append)
    clock.advance(5)
    clock.set(HARNESS_START + timedelta(minutes=1))
    assert [HARNESS_START + timedelta(seconds=5), HARNESS_START + timedelta(minutes=1)] == heard
