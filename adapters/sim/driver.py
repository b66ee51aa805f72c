"""The moving market of `ordergate serve` on the simulated broker.

`SimMarketDriver` moves a `SimSession`'s market one step at a time, paced against real time:

- `replay`: one step is one trading day of the session's bars (`ReplayPacer.step_day`), one
  simulated day long; after the last day the market stands still (the driver says so once);
- `synthetic`: one step is one one-minute bar per session symbol from the seeded
  `SyntheticIntraday` generator, starting the weekday after the replayed warm-up ends, at each
  symbol's last close (its indicators read the replayed daily history).

`speed` is simulated seconds per real second: 1 is real time, 86400 replays a day a second. Each
step is journalled (`SimJournal`) so a restart rebuilds the same market and account.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta

from ordergate.adapters.sim.bars import SimBar, from_units
from ordergate.adapters.sim.journal import SimJournal
from ordergate.adapters.sim.replay import Replay
from ordergate.adapters.sim.session import SimSession
from ordergate.adapters.sim.synthetic import SyntheticIntraday
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import NEW_YORK

__all__ = ["MARKETS", "SimMarketDriver"]

MARKETS = ("replay", "synthetic")
_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)


class SimMarketDriver:
    """Steps `session`'s market (`market` = replay | synthetic) at `speed` x real time."""

    def __init__(
        self,
        session: SimSession,
        *,
        market: str = "replay",
        speed: float = 1.0,
        seed: int = 7,
        journal: SimJournal | None = None,
    ) -> None:
        if market not in MARKETS:
            raise InvalidValue("serve.market", market, f"must be one of {', '.join(MARKETS)}")
        if not speed > 0:
            raise InvalidValue("serve.speed", speed, "must be > 0")
        self.__session = session
        self.market = market
        self.speed = speed
        self._seed = seed
        self._journal = journal
        self._synthetic: Iterator[list[SimBar]] | None = None
        self._replay = Replay(session.broker, options=session.options)
        self.steps = 0
        self.exhausted = False

    @property
    def step_span(self) -> timedelta:
        """The simulated time one step covers."""
        return _DAY if self.market == "replay" else _MINUTE

    @property
    def interval(self) -> float:
        """Real seconds between two steps."""
        return self.step_span.total_seconds() / self.speed

    def restore(self) -> int:
        """Rebuild the market and account from the journal (before the gate starts)."""
        if self._journal is None:
            return 0
        return self._journal.replay(self.__session, self._advance)

    def step(self) -> bool:
        """Move the market one step (journalled); False once a replay has no day left."""
        if not self._advance():
            return False
        if self._journal is not None:
            self._journal.append("step")
        return True

    def _advance(self) -> bool:
        if self.market == "replay":
            moved = self.__session.pacer.step_day() is not None
        else:
            for bar in next(self._bars()):
                self._replay.step(bar)
            moved = True
        if moved:
            self.steps += 1
        else:
            self.exhausted = True
        return moved

    def _bars(self) -> Iterator[list[SimBar]]:
        if self._synthetic is None:
            self._synthetic = self._synthetic_minutes()
        return self._synthetic

    def _synthetic_minutes(self) -> Iterator[list[SimBar]]:
        session = self.__session
        start = (session.clock.now().astimezone(NEW_YORK) + _DAY).date()
        series = []
        for index, stock in enumerate(session.stocks):
            last = session.engine.last_price(stock.id)
            open_price = last[0] if last is not None else from_units(
                session.series[stock.symbol][-1].close
            )
            generator = SyntheticIntraday(
                stock.id, seed=self._seed + index, start=start, open_price=open_price
            )
            series.append(generator.iter_bars())
        while True:
            yield [next(bars) for bars in series]

    async def run(self, stop: asyncio.Event) -> None:
        """Step every `interval` real seconds until `stop` is set or the replay ends."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if stop.is_set() or not self.step():
                return
