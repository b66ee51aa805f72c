"""Synthetic prices for `InstantEngine`: settable stock marks, Black–Scholes option marks, quotes
with a fixed spread, and seeded, repeatable historical bars.

This is scenery for the emulator when no simulator is plugged in, not a market model: quotes do
not move unless a test moves them (`set_price`), and bars come from a deterministic function of
(seed, conId, time), so the same request always returns the same bars. It must never import
`ib_async` or do I/O.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.gateway_sim.catalogue import Catalogue
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    BarSource,
    ContractSpec,
    MarketSnapshot,
)
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.instruments import OptionContract, OptionRight, quantize_price
from ordergate.domain.market import Bar

__all__ = ["MAX_BARS", "SyntheticMarket", "black_scholes"]

MAX_BARS = 10_000
"""Requests that would produce more bars than this are refused (IB limits them too)."""

_YEAR_SECONDS = 365.0 * 24 * 3600
_DAY = timedelta(days=1)


def black_scholes(spot: float, strike: float, years: float, vol: float, call: bool) -> float:
    """Black–Scholes value with zero rates and dividends; intrinsic value at or after expiry."""
    if years <= 0 or vol <= 0:
        return max(spot - strike, 0.0) if call else max(strike - spot, 0.0)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    if call:
        return spot * cdf(d1) - strike * cdf(d2)
    return strike * cdf(-d2) - spot * cdf(-d1)


class SyntheticMarket:
    """Marks, quotes and bars for the contracts of a catalogue."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        seed: int = 7,
        volatility: Decimal = Decimal("0.25"),
        stock_half_spread: Decimal = Decimal("0.01"),
        option_half_spread: Decimal = Decimal("0.05"),
        calendar: TradingCalendar | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._calendar = xnys_calendar() if calendar is None else calendar
        self._seed = seed
        self._vol = float(volatility)
        self._stock_half_spread = stock_half_spread
        self._option_half_spread = option_half_spread
        self._marks: dict[int, Decimal] = {}

    def set_price(self, con_id: int, price: Decimal) -> None:
        """Move a contract's mark (its last trade and the middle of its quote)."""
        if price <= 0:
            raise ValueError(f"price of conId {con_id} must be > 0, got {price}")
        self._marks[con_id] = price

    def mark(self, spec: ContractSpec, now: datetime) -> Decimal | None:
        """The contract's current mark: set, listed, or (options) priced from the underlying."""
        if spec.con_id in self._marks:
            return self._marks[spec.con_id]
        inst = spec.instrument
        if not isinstance(inst, OptionContract):
            return self._catalogue.reference_price(spec.con_id)
        under = self._catalogue.get(spec.under_con_id)
        spot = None if under is None else self.mark(under, now)
        if spot is None:
            return None
        years = (inst.last_trade_at - now).total_seconds() / _YEAR_SECONDS
        value = black_scholes(
            float(spot), float(inst.strike), years, self._vol, inst.right is OptionRight.CALL
        )
        return max(quantize_price(Decimal(repr(value)), inst.tick_size), inst.tick_size)

    def snapshot(self, spec: ContractSpec, now: datetime) -> MarketSnapshot | None:
        """Bid/ask around the mark, last at the mark, fixed displayed sizes."""
        mid = self.mark(spec, now)
        if mid is None:
            return None
        is_option = isinstance(spec.instrument, OptionContract)
        half = self._option_half_spread if is_option else self._stock_half_spread
        tick = spec.instrument.tick_size
        bid = quantize_price(mid - half, tick)
        size = Decimal(10) if is_option else Decimal(300)
        return MarketSnapshot(
            ts=now,
            bid=bid if bid > 0 else None,
            ask=quantize_price(mid + half, tick),
            last=mid,
            bid_size=size if bid > 0 else Decimal(0),
            ask_size=size,
            last_size=Decimal(1) if is_option else Decimal(100),
            volume=Decimal(1200) if is_option else Decimal(2_500_000),
            close=self._anchor(spec, now),
        )

    def bars(self, spec: ContractSpec, request: BarRequest, now: datetime) -> list[Bar]:
        """Bars up to `request.end`, on the bar-size grid, from a deterministic path around the
        contract's mark. With `regular_hours_only`, a whole-day duration counts trading sessions
        (the XNYS calendar's: no bars on weekends or holidays, 09:30 to the close, 13:00 on an
        early close), as IB's "N D" does."""
        size = request.bar_size
        if size <= timedelta(0) or request.duration <= timedelta(0):
            raise ValueError("bar size and duration must be positive")
        zone = ZoneInfo(spec.instrument.time_zone)
        rth = request.regular_hours_only
        if rth and request.duration % _DAY == timedelta(0):
            start = _sessions_back(request.end, request.duration.days, zone, self._calendar)
        else:
            start = request.end - request.duration
        if size >= _DAY:
            stamps = _daily_stamps(start, request.end, zone, self._calendar)
        else:
            stamps = _intraday_stamps(start, request.end, size, rth, self._calendar)
        if len(stamps) > MAX_BARS:
            raise ValueError(
                f"{len(stamps)} bars of {size} requested; at most {MAX_BARS} per request, "
                "ask for a shorter duration or a larger bar size"
            )
        base = self._anchor(spec, now)
        if base is None:
            return []
        return [self._bar(spec, ts, size, base, request.source) for ts in stamps]

    def _anchor(self, spec: ContractSpec, now: datetime) -> Decimal | None:
        # Bars and the previous close swing around the mark of the day, so they stay plausible
        # next to the live quote.
        return self.mark(spec, now)

    def _bar(
        self, spec: ContractSpec, ts: datetime, size: timedelta, base: Decimal, source: BarSource
    ) -> Bar:
        tick = spec.instrument.tick_size
        start_px = self._path(spec.con_id, ts, base)
        end_px = self._path(spec.con_id, ts + size, base)
        wiggle = self._noise(spec.con_id, ts, "range") * 0.002 + 0.0005
        high_f = max(start_px, end_px) * (1 + wiggle)
        low_f = min(start_px, end_px) * (1 - wiggle)
        shift = {BarSource.BID: -1, BarSource.ASK: 1}.get(source, 0) * float(tick)

        def px(value: float) -> Decimal:
            return max(quantize_price(Decimal(repr(value + shift)), tick), tick)

        open_, close = px(start_px), px(end_px)
        high = max(px(high_f), open_, close)
        low = min(px(low_f), open_, close)
        volume = Decimal(0) if source is not BarSource.TRADES else Decimal(
            int(1000 + 9000 * self._noise(spec.con_id, ts, "volume"))
        )
        return Bar(spec.instrument.id, ts, open_, high, low, close, volume, size)

    def _path(self, con_id: int, ts: datetime, base: Decimal) -> float:
        # A smooth daily swing plus hashed noise: any window of the path can be computed alone.
        seconds = ts.timestamp()
        swing = 0.01 * math.sin(2 * math.pi * seconds / 86_400.0)
        drift = 0.02 * math.sin(2 * math.pi * seconds / (86_400.0 * 23))
        noise = (self._noise(con_id, ts, "path") - 0.5) * 0.004
        return float(base) * (1 + swing + drift + noise)

    def _noise(self, con_id: int, ts: datetime, salt: str) -> float:
        digest = hashlib.blake2b(
            f"{self._seed}:{con_id}:{int(ts.timestamp())}:{salt}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(digest, "big") / 2.0**64


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _sessions_back(
    end: datetime, sessions: int, zone: ZoneInfo, calendar: TradingCalendar
) -> datetime:
    """Local midnight of the `sessions`-th trading day counting back from `end`."""
    day = end.astimezone(zone).date()
    found = 0
    while True:
        session = calendar.session(day)
        if session is not None and session.open < end:
            found += 1
            if found >= sessions:
                return _local_midnight(day, zone)
        day -= timedelta(days=1)


def _daily_stamps(
    start: datetime, end: datetime, zone: ZoneInfo, calendar: TradingCalendar
) -> list[datetime]:
    stamps = []
    day = start.astimezone(zone).date()
    while (midnight := _local_midnight(day, zone)) < end:
        session = calendar.session(day)
        # A daily bar is a session's, with or without regular hours only: IB has no daily bar
        # for a weekend or an exchange holiday.
        if midnight >= start and session is not None and session.open < end:
            stamps.append(midnight)
        day += timedelta(days=1)
    return stamps


def _intraday_stamps(
    start: datetime, end: datetime, size: timedelta, rth: bool, calendar: TradingCalendar
) -> list[datetime]:
    """Bar starts in [`start`, `end`) whose bar is complete, session by session as IB draws
    them: regular hours (`rth`) open a bar at the open (09:30, a partial first hourly bar)
    and then follow the bar-size grid to the close; otherwise the extended day 04:00 to four
    hours after the close. No bar on a day without a session (weekends, holidays)."""
    step = size.total_seconds()
    last = math.floor(end.timestamp() / step) * step  # the bar starting here is not complete
    zone = calendar.zone
    stamps: list[datetime] = []
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        session = calendar.session(day)
        day += timedelta(days=1)
        if session is None:
            continue
        opened, closed = session.open, session.close
        if not rth:
            opened = opened.astimezone(zone).replace(hour=4, minute=0).astimezone(UTC)
            closed = closed + timedelta(hours=4)
        moment = opened.timestamp()
        while moment < closed.timestamp() and moment < last:
            if moment >= start.timestamp():
                stamps.append(datetime.fromtimestamp(moment, UTC))
            moment = (math.floor(moment / step) + 1) * step
    return stamps
