"""On generated price series, every indicator agrees with TA-Lib to 1e-9 (VWAP: with Σtp·v/Σv).

The series mix random walks (with flat stretches, tiny moves and cent rounding, where variance
cancellation bites) and independent levels; the absolute tolerance is 1e-9 for prices up to
1,000, scaled with the price above that.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.indicators import bollinger, ema, rsi, vwap

talib = pytest.importorskip("talib", reason="TA-Lib is the reference implementation")

EXAMPLES = settings(max_examples=1000, deadline=None)
# Hypothesis picks the shape of a series; numpy fills it in (drawing 100 floats one by one
# would make 1,000 examples slow). Quiet walks, flat runs and cent rounding are where running
# sums lose precision; independent levels give large windows.
VOLATILITY = st.sampled_from([0.0, 1e-9, 1e-6, 1e-3, 0.01, 0.02])


@st.composite
def price_series(draw: st.DrawFn, min_size: int, max_size: int = 100) -> np.ndarray:
    n = draw(st.integers(min_size, max_size))
    start = draw(st.floats(1.0, 1000.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.integers(0, 4)) == 0:
        prices = rng.uniform(1.0, 1000.0, n)
        prices[0] = start
    else:
        moves = rng.normal(0.0, draw(VOLATILITY), n - 1)
        moves[rng.random(n - 1) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = 0.0
        prices = start * np.exp(np.cumsum(np.r_[0.0, moves]))
    if draw(st.booleans()):
        prices = np.maximum(prices.round(2), 0.01)
    return prices


def tolerance(prices: np.ndarray) -> float:
    return 1e-9 * max(1.0, float(np.abs(prices).max()) / 1000.0)


@EXAMPLES
@given(price_series(min_size=21))
def test_ema_8_and_21_agree_with_talib(prices: np.ndarray) -> None:
    for period in (8, 21):
        np.testing.assert_allclose(
            ema(prices, period), talib.EMA(prices, period), rtol=0, atol=tolerance(prices)
        )


@EXAMPLES
@given(price_series(min_size=15))
def test_rsi_14_agrees_with_talib_wilder(prices: np.ndarray) -> None:
    np.testing.assert_allclose(rsi(prices, 14), talib.RSI(prices, 14), rtol=0, atol=1e-9)


@EXAMPLES
@given(price_series(min_size=20))
def test_bollinger_20_2_agrees_with_talib_bbands(prices: np.ndarray) -> None:
    expected = talib.BBANDS(prices, 20, 2.0, 2.0, 0)
    for ours, theirs in zip(bollinger(prices, 20, 2.0), expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance(prices))


@st.composite
def sessions_of_bars(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    close = draw(price_series(min_size=1, max_size=60))
    n = len(close)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = rng.uniform(0.0, draw(st.sampled_from([0.0, 0.01, 5.0])), n)
    volume = rng.integers(0, draw(st.sampled_from([1, 100, 10**7])), n).astype(float)
    session = np.cumsum(rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])))
    return close + spread, np.maximum(close - spread, 0.0), close, volume, session


@settings(max_examples=300, deadline=None)  # no TA-Lib reference: fewer examples suffice
@given(sessions_of_bars())
def test_vwap_equals_the_direct_prefix_computation(bars: tuple[np.ndarray, ...]) -> None:
    high, low, close, volume, session = bars
    expected, turnover, traded = [], Fraction(0), Fraction(0)
    for i, (tp, v) in enumerate(zip((high + low + close) / 3, volume, strict=True)):
        if i == 0 or session[i] != session[i - 1]:
            turnover, traded = Fraction(0), Fraction(0)
        turnover += Fraction(tp) * Fraction(v)
        traded += Fraction(v)
        expected.append(float(turnover / traded) if traded else math.nan)
    np.testing.assert_allclose(vwap(high, low, close, volume, session), expected, rtol=1e-12)
