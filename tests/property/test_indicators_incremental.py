"""Every incremental indicator returns exactly the batch function's floats (NaN where NaN).

`assert_array_equal` compares with `==`: bit-identical values, not approximately equal ones.
Each case also feeds a prefix, resets, and replays the series: a reset object is as new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.indicators import (
    BollingerBands,
    Ema,
    Rsi,
    SessionVwap,
    bollinger,
    ema,
    rsi,
    vwap,
)
from ordergate.domain.indicators.bollinger import last_block_start

EXAMPLES = settings(max_examples=400, deadline=None)
VOLATILITY = st.sampled_from([0.0, 1e-9, 1e-6, 1e-3, 0.01, 0.05])


@st.composite
def price_series(draw: st.DrawFn, max_size: int = 300) -> np.ndarray:
    """Walks with flat runs and tiny moves, wild levels, or a few hand-drawn values."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12)))
    n = draw(st.integers(1, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == 1:
        return rng.uniform(1.0, 1000.0, n)
    moves = rng.normal(0.0, draw(VOLATILITY), n)
    moves[rng.random(n) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = 0.0
    prices = draw(st.floats(0.01, 5000.0)) * np.exp(np.cumsum(moves))
    return prices.round(2) if kind == 2 else prices


def replay(update: Callable[..., None], read: Callable[[], Any], rows: Sequence[Any]) -> list[Any]:
    out = []
    for row in rows:
        update(*row) if isinstance(row, tuple) else update(row)
        out.append(read())
    return out


def check_stream(
    make: Callable[[], Any],
    read: Callable[[Any], Any],
    rows: Sequence[Any],
    expected: Any,
    prefix: int,
) -> None:
    indicator = make()
    np.testing.assert_array_equal(replay(indicator.update, lambda: read(indicator), rows), expected)
    indicator.reset()
    replay(indicator.update, lambda: read(indicator), rows[:prefix])
    indicator.reset()
    np.testing.assert_array_equal(replay(indicator.update, lambda: read(indicator), rows), expected)


def series_and_period(max_period: int) -> st.SearchStrategy[tuple[np.ndarray, int, int]]:
    return st.tuples(price_series(), st.integers(1, max_period), st.integers(0, 50))


@EXAMPLES
@given(series_and_period(40))
def test_ema_stream_equals_batch(case: tuple[np.ndarray, int, int]) -> None:
    values, period, prefix = case
    if len(values) < period:
        return
    rows = values.tolist()
    check_stream(lambda: Ema(period), lambda e: e.value, rows, ema(values, period), prefix)


@EXAMPLES
@given(series_and_period(40), st.sampled_from(["wilder", "simple"]))
def test_rsi_stream_equals_batch(case: tuple[np.ndarray, int, int], method: str) -> None:
    values, period, prefix = case
    if len(values) <= period:
        return
    rows = values.tolist()
    expected = rsi(values, period, method)  # type: ignore[arg-type]
    check_stream(lambda: Rsi(period, method), lambda r: r.value, rows, expected, prefix)  # type: ignore[arg-type]


@EXAMPLES
@given(series_and_period(60), st.sampled_from([0.0, 1.0, 2.0, 2.5]))
def test_bollinger_stream_equals_batch(case: tuple[np.ndarray, int, int], k: float) -> None:
    values, period, prefix = case
    if len(values) < period:
        return
    expected = np.column_stack(bollinger(values, period, k))
    check_stream(
        lambda: BollingerBands(period, k),
        lambda b: (b.upper, b.middle, b.lower),
        values.tolist(),
        expected,
        prefix,
    )


@EXAMPLES
@given(price_series(), st.integers(0, 2**32 - 1), st.integers(0, 50))
def test_session_vwap_stream_equals_batch(close: np.ndarray, seed: int, prefix: int) -> None:
    rng = np.random.default_rng(seed)
    n = len(close)
    high = close + rng.uniform(0.0, 1.0, n)
    low = close - rng.uniform(0.0, 1.0, n)
    volume = rng.integers(0, 3, n) * rng.uniform(0.0, 1e6, n)
    session = np.cumsum(rng.random(n) < rng.uniform(0.0, 1.0))
    rows = list(zip(*(a.tolist() for a in (high, low, close, volume, session)), strict=True))
    expected = vwap(high, low, close, volume, session)
    check_stream(SessionVwap, lambda v: v.value, rows, expected, prefix)


@EXAMPLES
@given(series_and_period(60), st.sampled_from([0.0, 2.0]))
def test_bollinger_fed_from_its_last_block_start_ends_as_if_fed_everything(
    case: tuple[np.ndarray, int, int], k: float
) -> None:
    values, period, _ = case
    rows = values.tolist()
    everything, suffix = BollingerBands(period, k), BollingerBands(period, k)
    for value in rows:
        everything.update(value)
    for value in rows[last_block_start(len(rows), period) :]:
        suffix.update(value)
    np.testing.assert_array_equal(
        (suffix.upper, suffix.middle, suffix.lower),
        (everything.upper, everything.middle, everything.lower),
    )
