"""`FakeClock`: a `Clock` whose time moves only when a test calls `advance`.

It is for tests and simulations that must be deterministic. It must never read the wall clock and
never move backwards; `sleep` waits for *this clock's* time, so a sleeper wakes only when
`advance` carries the clock past its deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import check_utc

__all__ = ["FakeClock"]


class FakeClock:
    """Simulated time, starting at `start` (aware UTC).

    Controls: `advance(seconds)` moves time forward and wakes the sleepers whose deadline has
    passed; `set(when)` jumps forward to an instant; `on_advance(callback)` lets adapters sharing
    the clock react to time passing (order expiry, redelivery), in registration order.
    """

    def __init__(self, start: datetime) -> None:
        self._now = check_utc("FakeClock.start", start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        """The current simulated time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by `seconds`; zero or less just yields once."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many `sleep` calls are still waiting."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def on_advance(self, callback: Callable[[datetime], None]) -> None:
        """Call `callback(now)` after every move of the clock (after sleepers are woken)."""
        self._listeners.append(callback)

    def advance(self, seconds: float) -> datetime:
        """Move time forward by `seconds` (>= 0) and return the new time."""
        if seconds < 0:
            raise InvalidValue("FakeClock.advance.seconds", seconds, "time never goes backwards")
        return self.set(self._now + timedelta(seconds=seconds))

    def set(self, when: datetime) -> datetime:
        """Jump to `when`, which must not be earlier than now; wakes due sleepers."""
        check_utc("FakeClock.set.when", when)
        if when < self._now:
            raise InvalidValue(
                "FakeClock.set.when", when, f"is before the clock's time {self._now.isoformat()}"
            )
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        for listener in list(self._listeners):
            listener(when)
        return when
