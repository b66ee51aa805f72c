"""A seeded generator of realistic-looking one-minute bars: sessions, overnight gaps, volume.

Each weekday session has 390 one-minute bars from 09:30 to 16:00 America/New_York. Prices follow
a random walk of log returns whose drift switches between regimes (so trends and chop both
occur), with an overnight gap at each open (occasionally a large one) and highs/lows that poke
beyond the open/close. Volume is U-shaped over the session with random noise. Prices are on a
0.01 tick. The same seed gives the same bars, on any machine (Python's `random.Random`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs

from ordergate.adapters.sim.bars import SimBar
from ordergate.adapters.sim.sessions import SESSION_OPEN
from ordergate.domain.instruments import NEW_YORK
from ordergate.domain.values import InstrumentId, decimal_field

__all__ = ["BARS_PER_SESSION", "SyntheticIntraday"]

BARS_PER_SESSION = 390
_MINUTE = timedelta(minutes=1)
_TICK_UNITS = 100  # 0.01 in PRICE_UNITs
_SATURDAY = 5


@attrs.frozen
class SyntheticIntraday:
    """Settings of the generator; `bars(count)` / `iter_bars()` produce the series."""

    instrument_id: InstrumentId
    seed: int
    start: date = date(2024, 1, 2)
    open_price: Decimal = decimal_field(positive=True, default=Decimal(100))
    annual_volatility: float = 0.30
    gap_volatility: float = 0.01
    big_gap_probability: float = 0.04
    regime_minutes: int = 120
    base_volume: int = 20_000

    def bars(self, count: int) -> list[SimBar]:
        """The first `count` bars."""
        out: list[SimBar] = []
        append = out.append
        for bar in self.iter_bars():
            append(bar)
            if len(out) >= count:
                break
        return out

    def iter_bars(self) -> Iterator[SimBar]:
        """An endless series of bars, session after session."""
        rng = random.Random(self.seed)
        sigma = self.annual_volatility / math.sqrt(252 * BARS_PER_SESSION)
        price = float(self.open_price)
        day = self.start
        iid = self.instrument_id
        drift = 0.0
        shape = [
            0.6 + 1.6 * ((i - BARS_PER_SESSION / 2) / (BARS_PER_SESSION / 2)) ** 2
            for i in range(BARS_PER_SESSION)
        ]
        while True:
            if day.weekday() >= _SATURDAY:
                day += timedelta(days=1)
                continue
            gap = rng.gauss(0.0, self.gap_volatility)
            if rng.random() < self.big_gap_probability:
                gap += rng.choice((-1.0, 1.0)) * rng.uniform(0.02, 0.06)
            price *= math.exp(gap)
            start = datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK).astimezone(UTC)
            close_units = _units(price)
            for minute in range(BARS_PER_SESSION):
                if minute % self.regime_minutes == 0:
                    drift = rng.gauss(0.0, sigma * 0.15)
                open_units = close_units if minute else _units(price)
                price *= math.exp(drift + rng.gauss(0.0, sigma))
                close_units = _units(price)
                wick = abs(rng.gauss(0.0, sigma * 0.6)) * price
                high = max(open_units, close_units) + _units_of(wick)
                wick = abs(rng.gauss(0.0, sigma * 0.6)) * price
                low = max(min(open_units, close_units) - _units_of(wick), _TICK_UNITS)
                volume = int(self.base_volume * shape[minute] * math.exp(rng.gauss(0.0, 0.4)))
                ts = start + _MINUTE * minute
                yield SimBar(iid, ts, ts + _MINUTE, open_units, high, low, close_units, volume)
            day += timedelta(days=1)


def _units(price: float) -> int:
    """A float price on the 0.01 tick, in PRICE_UNITs, never below one tick."""
    return max(round(price * 100), 1) * _TICK_UNITS


def _units_of(amount: float) -> int:
    return round(amount * 100) * _TICK_UNITS

