"""`SimClock`: the simulator's deterministic time (implements the `Clock` port).

Simulated time moves only when the simulation moves it: a replayed bar carries the clock to the
bar's end, a test calls `advance`. It never reads the wall clock and never goes backwards;
`sleep` waits for *this clock's* time, so sleepers wake when the simulation passes their deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import check_utc

__all__ = ["SimClock"]


class SimClock:
    """Simulated time starting at `start` (aware UTC).

    `advance(seconds)` and `advance_to(when)` move time forward, wake due sleepers and then call
    the `on_advance` listeners (the sim broker uses one to expire orders and release orders held
    by latency).
    """

    __slots__ = ("_listeners", "_now", "_order", "_sleepers")

    def __init__(self, start: datetime) -> None:
        self._now = check_utc("SimClock.start", start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        """The current simulated time (aware UTC)."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until simulated time has moved `seconds` past now; zero or less yields once."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    def on_advance(self, listener: Callable[[datetime], None]) -> None:
        """Call `listener(now)` after every move of the clock, in registration order."""
        self._listeners.append(listener)

    def advance(self, seconds: float) -> datetime:
        """Move forward by `seconds` (>= 0); returns the new time."""
        if seconds < 0:
            raise InvalidValue("SimClock.advance.seconds", seconds, "time never goes backwards")
        return self.advance_to(self._now + timedelta(seconds=seconds))

    def advance_to(self, when: datetime) -> datetime:
        """Move to `when` (not earlier than now), wake due sleepers and notify listeners."""
        self._move(when)
        for listener in tuple(self._listeners):
            listener(when)
        return when

    def move_quietly(self, when: datetime) -> None:
        """Move to `when` without notifying listeners: for the component that already acted on
        the new time itself (the broker replaying a bar). Sleepers are still woken."""
        if when < self._now or self._sleepers:
            self._move(when)
        else:
            self._now = when

    def _move(self, when: datetime) -> None:
        if when < self._now:
            check_utc("SimClock.when", when)
            raise InvalidValue(
                "SimClock.when", when, f"is before the clock's time {self._now.isoformat()}"
            )
        self._now = when
        sleepers = self._sleepers
        while sleepers and sleepers[0][0] <= when:
            _, _, future = heapq.heappop(sleepers)
            if not future.done():
                future.set_result(None)
