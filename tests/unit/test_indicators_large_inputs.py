"""Large inputs take the batch's column-by-column path; the stream still matches it exactly.

Small inputs are summed row by row (fewer numpy calls), large ones one column of blocks at a
time; both add in the same order, so both must equal the incremental object bit for bit.
"""

from __future__ import annotations

import numpy as np

from ordergate.domain.indicators import BollingerBands, Ema, Rsi, bollinger, ema, rsi


def closes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))).round(2)


def test_ema_stream_matches_a_large_batch() -> None:
    values = closes(90_000, 1)  # > 400 values per column of 176-wide blocks
    indicator = Ema(8)
    out = np.empty(len(values))
    for i, value in enumerate(values.tolist()):
        indicator.update(value)
        out[i] = indicator.value
    np.testing.assert_array_equal(out, ema(values, 8))


def test_rsi_stream_matches_a_large_batch() -> None:
    values = closes(120_000, 2)  # > 400 values per column of 240-wide blocks
    indicator = Rsi(14)
    out = np.empty(len(values))
    for i, value in enumerate(values.tolist()):
        indicator.update(value)
        out[i] = indicator.value
    np.testing.assert_array_equal(out, rsi(values, 14))


def test_bollinger_stream_matches_a_large_batch() -> None:
    values = np.r_[closes(20_000, 3), np.full(500, 42.0), 900 + closes(5_000, 4) * 1e-9]
    indicator = BollingerBands(20, 2.0)
    out = np.empty((3, len(values)))
    for i, value in enumerate(values.tolist()):
        indicator.update(value)
        out[:, i] = (indicator.upper, indicator.middle, indicator.lower)
    np.testing.assert_array_equal(out, np.array(bollinger(values, 20, 2.0)))
