"""`SimMarketData`: the `MarketData` port over replayed bars, option chains and the sim broker.

Quotes are snapshots built at the clock's current time from, in order of preference: a quote a
test set explicitly (`set_quote`, possibly aged on purpose); the latest of the last bar that has
*ended* by now (last = close, bid/ask = close ∓ half the spread, volume = the session's volume so
far, `ts` = the bar's end) and the engine's last trade; for an option of a known chain, the
Black–Scholes price at the underlying's quote. `freeze` stops an instrument's quote from updating
so that it goes stale while the clock runs. Bars are never returned from the future of the clock
(no look-ahead in a replay). Every call honours `timeout`; unknown instruments raise
`BrokerRejected`.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.sim.bars import SimBar, from_units
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.options import OptionMarket
from ordergate.adapters.sim.sessions import is_in_session
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import BrokerRejected, BrokerTimeout, InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import InstrumentId
from ordergate.ports.clock import Clock

__all__ = ["SimMarketData"]


class _Series:
    """One instrument's bars, with their end times and running session volume for lookups.

    Each bar becomes a domain `Bar` at most once, the first time a request returns it; later
    requests return the same `Bar` objects (immutable), so a session that asks for a sliding
    window every cycle converts every bar once in all, not once per cycle. Whether a bar is in
    the regular session is likewise decided once per bar and time zone.
    """

    def __init__(self, bars: Sequence[SimBar]) -> None:
        self.bars = sorted(bars, key=lambda b: b.ts)
        self.ends = [b.end for b in self.bars]
        self.starts = [b.ts for b in self.bars]
        self.session_volume: list[int] = []
        running, day = 0, None
        for bar in self.bars:
            bar_day = bar.ts.date()
            running = bar.volume if bar_day != day else running + bar.volume
            day = bar_day
            self.session_volume.append(running)
        # The stored bar size: the longest span, as a session cut short by an early close
        # (13:00 on XNYS) gives a shorter daily bar that is still that day's bar.
        self.native = max((b.end - b.ts for b in self.bars), default=timedelta(0))
        self._domain: list[Bar | None] = [None] * len(self.bars)
        self._session_calendar: TradingCalendar | None = None
        self._in_session: list[bool | None] = []

    def last_ended(self, now: datetime) -> int:
        """Index of the last bar that ended at or before `now`, or -1."""
        return bisect.bisect_right(self.ends, now) - 1

    def domain_bar(self, index: int) -> Bar:
        """The domain `Bar` of bar `index`, converted on first use."""
        bar = self._domain[index]
        if bar is None:
            bar = self._domain[index] = self.bars[index].to_bar()
        return bar

    def in_session(self, index: int, calendar: TradingCalendar) -> bool:
        """Whether bar `index` starts within a session of `calendar` (decided once per bar for
        the calendar last asked about)."""
        if self._session_calendar is not calendar:
            self._session_calendar = calendar
            self._in_session = [None] * len(self.bars)
        flag = self._in_session[index]
        if flag is None:
            flag = self._in_session[index] = is_in_session(self.bars[index].ts, calendar)
        return flag


class SimMarketData:
    """Quotes and bars for the simulation, on the simulation's clock."""

    def __init__(
        self,
        clock: Clock,
        *,
        engine: MatchingEngine | None = None,
        options: OptionMarket | None = None,
        spread_ticks: int = 1,
        max_duration: timedelta | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.clock = clock
        if calendar is None:
            calendar = engine.calendar if engine is not None else xnys_calendar()
        self.calendar = calendar
        self.engine = engine
        self.options = options
        self.spread_ticks = spread_ticks
        self.max_duration = max_duration
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._series: dict[InstrumentId, _Series] = {}
        self._explicit: dict[InstrumentId, Quote] = {}
        self._frozen: dict[InstrumentId, Quote] = {}
        self._stall = 0.0

    # -- controls ------------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument) -> None:
        """Make `instrument` known (quotes may still be missing until data arrives)."""
        self._instruments[instrument.id] = instrument

    def set_bars(self, instrument: Instrument, bars: Sequence[SimBar | Bar]) -> None:
        """Replace the bar history of `instrument`."""
        self.add_instrument(instrument)
        compact = [b if isinstance(b, SimBar) else SimBar.from_bar(b) for b in bars]
        self._series[instrument.id] = _Series(compact)

    def set_quote(self, instrument: Instrument, price: Decimal, *, age_seconds: float = 0) -> None:
        """Quote `instrument` at `price` (bid = ask = last), taken `age_seconds` ago."""
        self.add_instrument(instrument)
        ts = self.clock.now() - timedelta(seconds=age_seconds)
        self._explicit[instrument.id] = Quote(instrument.id, ts, price, price, price)

    def clear_quote(self, instrument: Instrument) -> None:
        """Forget a quote set with `set_quote`."""
        self._explicit.pop(instrument.id, None)

    def freeze(self, instrument: Instrument) -> None:
        """Hold `instrument`'s current quote: it ages with the clock (stale data on purpose)."""
        self._frozen[instrument.id] = self._build_quote(instrument)

    def unfreeze(self, instrument: Instrument) -> None:
        """Let a frozen quote follow the market again."""
        self._frozen.pop(instrument.id, None)

    def stall(self, seconds: float) -> None:
        """Delay the next reply by `seconds` of real time (to exercise timeouts)."""
        self._stall = seconds

    async def _enter(self, operation: str, timeout: float) -> None:
        if timeout <= 0:
            raise BrokerTimeout(operation, timeout)
        stall, self._stall = self._stall, 0.0
        if stall > 0:
            try:
                await asyncio.wait_for(asyncio.sleep(stall), timeout)
            except TimeoutError:
                raise BrokerTimeout(operation, timeout) from None

    def _known(self, instrument: Instrument) -> Instrument:
        iid = instrument.id
        known = self._instruments.get(iid)
        if known is None and self.engine is not None:
            known = self.engine.instrument(iid)
        if (
            known is None
            and isinstance(instrument, OptionContract)
            and self.options is not None
            and self.options.chain(instrument.underlying) is not None
        ):
            known = instrument
        if known is None:
            raise BrokerRejected(f"No security definition has been found for {iid}", 200)
        return known

    # -- quotes --------------------------------------------------------------------------------
    def _build_quote(self, instrument: Instrument) -> Quote:
        iid = instrument.id
        explicit = self._explicit.get(iid)
        if explicit is not None:
            return explicit
        now = self.clock.now()
        best: tuple[datetime, Decimal, Decimal | None] | None = None
        series = self._series.get(iid)
        if series is not None:
            index = series.last_ended(now)
            if index >= 0:
                bar = series.bars[index]
                best = (bar.end, from_units(bar.close), Decimal(series.session_volume[index]))
        if self.engine is not None:
            traded = self.engine.last_price(iid)
            if traded is not None and (best is None or traded[1] > best[0]):
                best = (traded[1], traded[0], None)
        if best is None and isinstance(instrument, OptionContract):
            return self._option_quote(instrument, now)
        if best is None:
            return Quote(iid, now)
        ts, last, volume = best
        half = instrument.tick_size * self.spread_ticks / 2
        bid = last - half if last - half > 0 else None
        return Quote(iid, ts, bid, last + half, last, volume)

    def _option_quote(self, contract: OptionContract, now: datetime) -> Quote:
        if self.options is None or self.options.chain(contract.underlying) is None:
            return Quote(contract.id, now)
        underlying = self.options.chain(contract.underlying).underlying  # type: ignore[union-attr]
        spot_quote = self._frozen.get(underlying.id) or self._build_quote(underlying)
        if spot_quote.last is None:
            return Quote(contract.id, now)
        price = self.options.price(contract, spot_quote.last, now)
        return Quote(contract.id, spot_quote.ts, price, price, price)

    async def quote(self, instrument: Instrument, *, timeout: float) -> Quote:
        """The latest snapshot quote (fields may be missing); `ts` says how old it is."""
        await self._enter("quote", timeout)
        known = self._known(instrument)
        frozen = self._frozen.get(known.id)
        return frozen if frozen is not None else self._build_quote(known)

    # -- bars ----------------------------------------------------------------------------------
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
        """Bars starting in `[end - duration, end)` that have ended by the clock's now."""
        await self._enter("bars", timeout)
        known = self._known(instrument)
        if self.max_duration is not None and duration > self.max_duration:
            raise InvalidValue("bars.duration", duration, f"must be <= {self.max_duration}")
        if duration <= timedelta(0) or bar_size <= timedelta(0):
            raise InvalidValue("bars.duration/bar_size", (duration, bar_size), "must be > 0")
        series = self._series.get(known.id)
        if series is None:
            return []
        now = self.clock.now()
        lo = bisect.bisect_left(series.starts, end - duration)
        hi = bisect.bisect_left(series.starts, end)
        calendar, ends = self.calendar, series.ends
        chosen = [
            i
            for i in range(lo, hi)
            if ends[i] <= now and (not rth_only or series.in_session(i, calendar))
        ]
        if not chosen:
            return []
        native = series.native
        if bar_size == native:
            return [series.domain_bar(i) for i in chosen]
        if bar_size < native or bar_size % native:
            raise InvalidValue("bars.bar_size", bar_size, f"must be a multiple of {native}")
        return _aggregate([series.bars[i] for i in chosen], bar_size)


def _aggregate(bars: Sequence[SimBar], size: timedelta) -> list[Bar]:
    """Combine consecutive bars into buckets of `size` aligned on the first bar's start."""
    out: list[Bar] = []
    origin = bars[0].ts
    group: list[SimBar] = []
    bucket = 0
    for bar in bars:
        index = (bar.ts - origin) // size
        if group and index != bucket:
            out.append(_merge(group, origin + size * bucket, size))
            group = []
        bucket = index
        group.append(bar)
    out.append(_merge(group, origin + size * bucket, size))
    return out


def _merge(group: Sequence[SimBar], start: datetime, size: timedelta) -> Bar:
    merged = SimBar(
        group[0].instrument_id,
        start,
        start + size,
        group[0].open,
        max(b.high for b in group),
        min(b.low for b in group),
        group[-1].close,
        sum(b.volume for b in group),
    )
    return merged.to_bar()
