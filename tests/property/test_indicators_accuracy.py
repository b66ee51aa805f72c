"""Bollinger deviations stay within 5e-11 of the exact value, whatever the price level or noise.

The running sums are only trusted where a rounding bound says their error is below that; every
other window is recomputed directly. Levels up to 1e5 with noise down to 1e-9, flat runs and
jumps probe that bound against exact rational arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.indicators import bollinger


@st.composite
def adversarial_series(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(2, 70))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    level = draw(st.sampled_from([1.0, 100.0, 1000.0, 1e5]))
    noise = draw(st.sampled_from([0.0, 1e-9, 1e-6, 1e-3, 1.0]))
    values = level + rng.normal(0.0, noise, n) if noise else np.full(n, level)
    jumps = rng.random(n) < draw(st.sampled_from([0.0, 0.05, 0.3]))
    values[jumps] += rng.normal(0.0, level * 0.1, int(jumps.sum()))
    return np.asarray(values, dtype=np.float64)


@settings(max_examples=300, deadline=None)
@given(adversarial_series(), st.integers(1, 25))
def test_deviation_is_within_tolerance_of_the_exact_value(values: np.ndarray, period: int) -> None:
    if len(values) < period:
        return
    bands = bollinger(values, period, k=1.0)
    exact = [Fraction(v) for v in values]
    for end in range(period - 1, len(values)):
        window = exact[end - period + 1 : end + 1]
        mean = sum(window, Fraction(0)) / period
        deviation = math.sqrt(sum((v - mean) ** 2 for v in window) / period)
        assert abs((bands.upper[end] - bands.middle[end]) - deviation) <= 5e-11 + 1e-15 * float(
            abs(mean)
        )
        assert abs(bands.middle[end] - float(mean)) <= 1e-13 * max(1.0, float(abs(mean)))
