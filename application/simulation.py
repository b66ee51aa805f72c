"""`OrderGate.simulation`: drive a simulated market from the embedding application.

On the sim broker the market moves only when asked. The handle replays bars or whole trading
days, then waits until the gate has applied what they caused (fills, quotes, settlements), so
that `gate.positions()`, `gate.order_status(...)` and `gate.portfolio` are current when a call
returns. `run()` drives strategies through the session, paced a day at a time, exactly as
`ordergate run` does. Nothing here reaches the broker: orders still go through the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from ordergate.domain.errors import InvalidValue
from ordergate.ports.market_replay import MarketReplay

if TYPE_CHECKING:
    from ordergate.application.facade import OrderGate
    from ordergate.application.session import SessionSummary, Strategy

__all__ = ["Simulation"]

MAX_STEPS = 1_000_000
"""The most bars or days one call may be asked to replay."""


class Simulation:
    """The controls of a simulated market (`gate.simulation`; only on the sim broker)."""

    def __init__(self, gate: OrderGate, market: MarketReplay) -> None:
        self.__gate = gate
        self.__market = market
        self.__day: date | None = None  # the trading day the gate has begun

    @property
    def upcoming_day(self) -> date | None:
        """The trading date the next bar belongs to; None once the replay is over."""
        return self.__market.upcoming_day()

    @property
    def next_bar_at(self) -> datetime | None:
        """When the next bar interval starts; None once the replay is over."""
        return self.__market.upcoming_bar_ts()

    @property
    def days_left(self) -> int:
        """Trading days not yet fully replayed (a day begun counts)."""
        return self.__market.days_left()

    @property
    def finished(self) -> bool:
        """True once every bar has been replayed."""
        return self.__market.upcoming_day() is None

    async def advance_bars(self, count: int = 1) -> int:
        """Replay the next `count` bar intervals (each: every symbol's bar that starts at that
        time) and apply what they caused; returns how many were replayed (fewer at the end)."""
        _check_count("count", count)
        done = 0
        while done < count:
            self.__begin_day_if_new()
            if not await self.__market.next_bar():
                break
            done += 1
        await self.__gate.settle()
        return done

    async def advance_days(self, count: int = 1) -> int:
        """Replay the rest of the current trading day and then whole days, `count` in all, and
        apply what they caused; returns how many days were replayed (fewer at the end)."""
        _check_count("count", count)
        done = 0
        while done < count:
            self.__begin_day_if_new()
            if not await self.__market.next_cycle():
                break
            done += 1
            await self.__gate.settle()
        await self.__gate.settle()
        return done

    async def run(
        self,
        strategies: Sequence[Strategy],
        *,
        days: int | None = None,
        on_cycle: Callable[[int, SessionSummary], None] | None = None,
    ) -> SessionSummary:
        """Run `strategies` through the session a day at a time, as `ordergate run` does (each
        day: replay it, let every strategy look at each of its instruments and signal through
        the gate, then the Strategy C monitor), for `days` days or to the end."""
        from ordergate.application.session import SessionRunner  # noqa: PLC0415  (imports facade)

        if days is not None:
            _check_count("days", days)
        paced = _Paced(self.__market, days, skip_begun=self.__day)
        summary = await SessionRunner(self.__gate, paced, strategies, on_cycle=on_cycle).run()
        if paced.last_day is not None:
            self.__day = paced.last_day
        return summary

    def __begin_day_if_new(self) -> None:
        upcoming = self.__market.upcoming_day()
        if upcoming is not None and upcoming != self.__day:
            self.__gate.begin_day()  # before the day trades: the previous close is the reference
            self.__day = upcoming


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STEPS:
        raise InvalidValue(name, value, f"an int from 1 to {MAX_STEPS}")


class _Paced:
    """The market as `SessionRunner`'s pacer: at most `days` cycles; a day the handle has
    already begun (bars replayed by `advance_bars`) is not begun again."""

    def __init__(self, market: MarketReplay, days: int | None, *, skip_begun: date | None) -> None:
        self._market = market
        self._left = days
        self._skip = skip_begun
        self.last_day: date | None = None
        total = market.days_left()
        self.total_cycles: int | None = total if days is None else min(days, total)

    def upcoming_day(self) -> date | None:
        if self._left == 0:
            return None
        day = self._market.upcoming_day()
        if day is not None and day == self._skip:
            return None  # begun already: the runner must not reset the session's reference
        return day

    async def next_cycle(self) -> bool:
        if self._left == 0:
            return False
        self.last_day = self._market.upcoming_day()
        self._skip = None
        if not await self._market.next_cycle():
            return False
        if self._left is not None:
            self._left -= 1
        return True
