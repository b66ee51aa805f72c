"""`FakeMarketData`: a `MarketData` serving the quotes and bars a test sets.

Quotes are snapshots stamped with the time they were "taken" (`make_stale` ages one); bars are
returned by the same bounded-window rule every adapter follows. It records every call. It must
never invent data: an instrument with no quote set returns a quote with every field missing, and
an instrument it does not know is rejected.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ordergate.adapters.fakes._calls import RecordedCall
from ordergate.domain.errors import BrokerRejected, BrokerTimeout, InvalidValue
from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import InstrumentId, check_utc
from ordergate.ports.clock import Clock

__all__ = ["FakeMarketData"]

_RTH_OPEN = time(9, 30)
_RTH_CLOSE = time(16, 0)
_DAY = timedelta(days=1)


class FakeMarketData:
    """Quotes and bars from memory, timed by `clock`.

    Controls: `set_quote`, `set_price`, `make_stale`, `set_bars`, `stall`, `add_instrument`;
    `calls` lists what it received. `max_duration` (None: unbounded) makes `bars` refuse longer
    requests with `InvalidValue`, as IB's one-hour limit does.
    """

    def __init__(
        self,
        clock: Clock,
        instruments: Iterable[Instrument],
        *,
        max_duration: timedelta | None = None,
    ) -> None:
        self._clock = clock
        self._instruments = {instrument.id: instrument for instrument in instruments}
        self._quotes: dict[InstrumentId, Quote] = {}
        self._bars: dict[InstrumentId, list[Bar]] = {}
        self._stalls: deque[float] = deque()
        self._max_duration = max_duration
        self.calls: list[RecordedCall] = []

    # -- port --------------------------------------------------------------------------------
    async def quote(self, instrument: Instrument, *, timeout: float) -> Quote:
        """The quote last set for `instrument`, with the time it was taken."""
        await self._call("quote", timeout, instrument=instrument)
        known = self._known(instrument)
        stored = self._quotes.get(known.id)
        return stored if stored is not None else Quote(known.id, ts=self._clock.now())

    async def bars(
        self,
        instrument: Instrument,
        *,
        end: datetime,
        duration: timedelta,
        bar_size: timedelta = timedelta(minutes=1),
        rth_only: bool = True,
        timeout: float,
    ) -> list[Bar]:
        """Bars of `bar_size` starting in `[end - duration, end)`, oldest first."""
        await self._call(
            "bars",
            timeout,
            instrument=instrument,
            end=end,
            duration=duration,
            bar_size=bar_size,
            rth_only=rth_only,
        )
        check_utc("FakeMarketData.bars.end", end)
        if duration <= timedelta(0) or bar_size <= timedelta(0):
            raise InvalidValue(
                "FakeMarketData.bars.duration", (duration, bar_size), "must both be positive"
            )
        if self._max_duration is not None and duration > self._max_duration:
            raise InvalidValue(
                "FakeMarketData.bars.duration",
                duration,
                f"exceeds the limit of {self._max_duration}; split the request",
            )
        known = self._known(instrument)
        start = end - duration
        zone = ZoneInfo(known.time_zone)
        return [
            bar
            for bar in self._bars.get(known.id, [])
            if start <= bar.ts < end
            and bar.duration == bar_size
            and (not rth_only or _in_rth(bar, zone))
        ]

    # -- controls ----------------------------------------------------------------------------
    def set_quote(
        self,
        instrument: Instrument,
        *,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        last: Decimal | None = None,
        volume: Decimal | None = None,
        ts: datetime | None = None,
    ) -> Quote:
        """Store the latest quote, taken at `ts` (default: now)."""
        quote = Quote(
            self._known(instrument).id,
            ts=ts if ts is not None else self._clock.now(),
            bid=bid,
            ask=ask,
            last=last,
            volume=volume,
        )
        self._quotes[quote.instrument_id] = quote
        return quote

    def set_price(self, instrument: Instrument, price: Decimal, *, age_seconds: float = 0) -> Quote:
        """A quote with bid = ask = last = `price`, taken `age_seconds` ago."""
        taken = self._clock.now() - timedelta(seconds=age_seconds)
        return self.set_quote(instrument, bid=price, ask=price, last=price, ts=taken)

    def make_stale(self, instrument: Instrument, age: timedelta) -> Quote:
        """Re-stamp the current quote of `instrument` as taken `age` ago."""
        known = self._known(instrument)
        current = self._quotes.get(known.id) or Quote(known.id, ts=self._clock.now())
        stale = attrs.evolve(current, ts=self._clock.now() - age)
        self._quotes[known.id] = stale
        return stale

    def set_bars(self, instrument: Instrument, bars: Sequence[Bar]) -> None:
        """Replace the history of `instrument` (kept sorted by start time)."""
        known = self._known(instrument)
        for bar in bars:
            if bar.instrument_id != known.id:
                raise InvalidValue(
                    "FakeMarketData.set_bars.bars",
                    bar.instrument_id,
                    f"belongs to another instrument than {known.id}",
                )
        self._bars[known.id] = sorted(bars, key=lambda bar: bar.ts)

    def stall(self, seconds: float) -> None:
        """The next call's reply is delayed by `seconds` of real time."""
        self._stalls.append(seconds)

    def add_instrument(self, instrument: Instrument) -> None:
        """Make `instrument` known."""
        self._instruments[instrument.id] = instrument

    # -- internals ---------------------------------------------------------------------------
    def _known(self, instrument: Instrument) -> Instrument:
        known = self._instruments.get(instrument.id)
        if known is None:
            raise BrokerRejected(f"no market data for unknown instrument {instrument.id}", 200)
        return known

    async def _call(self, method: str, timeout: float, **arguments: Any) -> None:
        self.calls.append(RecordedCall(method, tuple(arguments.items()), self._clock.now()))
        if timeout <= 0:
            raise InvalidValue(f"FakeMarketData.{method}.timeout", timeout, "must be > 0 seconds")
        delay = self._stalls.popleft() if self._stalls else 0.0
        if delay > timeout:
            await asyncio.sleep(timeout)
            raise BrokerTimeout(f"FakeMarketData.{method}", timeout)
        if delay > 0:
            await asyncio.sleep(delay)


def _in_rth(bar: Bar, zone: ZoneInfo) -> bool:
    """Daily (or longer) bars are RTH by definition; intraday bars must start in 09:30–16:00."""
    if bar.duration >= _DAY:
        return True
    local = bar.ts.astimezone(zone).time()
    return _RTH_OPEN <= local < _RTH_CLOSE
