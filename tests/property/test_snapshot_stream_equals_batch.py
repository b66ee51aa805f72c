"""`compute_snapshot` gives the batch functions' values whether it streams or runs the batch.

Up to `STREAM_MAX_BARS` bars the snapshot feeds the incremental indicators (Bollinger from its
last block, VWAP from the last session); above it, the batch functions. Both must return exactly
the floats of `ema`, `rsi`, `bollinger` and `vwap` over the whole series.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.indicators import bollinger, compute_snapshot, ema, rsi, vwap
from ordergate.domain.indicators.snapshot import STREAM_MAX_BARS, IndicatorValues
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import InstrumentId

AAPL = InstrumentId("AAPL")
START = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def make_bars(n: int, seed: int, step: timedelta, flat: float) -> list[Bar]:
    rng = np.random.default_rng(seed)
    moves = rng.normal(0.0, 0.01, n)
    moves[rng.random(n) < flat] = 0.0
    closes = (150 * np.exp(np.cumsum(moves))).round(2)
    volumes = rng.integers(0, 3, n) * rng.integers(1, 5000, n)
    out = []
    for i, close in enumerate(closes.tolist()):
        c = Decimal(f"{close:.2f}")
        out.append(
            Bar(AAPL, START + i * step, c, c + Decimal("0.05"), c - Decimal("0.03"), c,
                Decimal(int(volumes[i])), step)
        )
    return out


def last(series: np.ndarray) -> float | None:
    value = float(series[-1])
    return None if math.isnan(value) else value


def expected(bars: list[Bar]) -> IndicatorValues:
    close = np.array([float(b.close) for b in bars])
    if len(bars) == 0:
        return IndicatorValues()
    high = np.array([float(b.high) for b in bars])
    low = np.array([float(b.low) for b in bars])
    volume = np.array([float(b.volume) for b in bars])
    sessions = np.array([b.ts.astimezone(NEW_YORK).date().toordinal() for b in bars])
    bands = bollinger(close, 20, 2.0) if len(bars) >= 20 else None
    return IndicatorValues(
        ema_fast=last(ema(close, 8)) if len(bars) >= 8 else None,
        ema_slow=last(ema(close, 21)) if len(bars) >= 21 else None,
        rsi=last(rsi(close, 14)) if len(bars) >= 15 else None,
        vwap=last(vwap(high, low, close, volume, sessions)),
        bb_upper=None if bands is None else float(bands.upper[-1]),
        bb_middle=None if bands is None else float(bands.middle[-1]),
        bb_lower=None if bands is None else float(bands.lower[-1]),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(st.integers(0, 200), st.integers(STREAM_MAX_BARS - 40, STREAM_MAX_BARS + 40)),
    st.integers(0, 2**32 - 1),
    st.sampled_from([timedelta(minutes=1), timedelta(minutes=30), timedelta(days=1)]),
    st.sampled_from([0.0, 0.5, 1.0]),
)
def test_snapshot_indicators_are_the_batch_values(
    n: int, seed: int, step: timedelta, flat: float
) -> None:
    bars = make_bars(n, seed, step, flat)
    now = START + n * step
    quote = Quote(AAPL, now, Decimal(100), Decimal(100), Decimal(100), Decimal(1))
    assert expected(bars) == compute_snapshot(quote, bars, now).indicators
