"""Session VWAP: Σ typical·volume / Σ volume, restarting whenever the session key changes."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from ordergate.domain.errors import InsufficientDataError, InvalidValue
from ordergate.domain.indicators import SessionVwap, vwap


def direct(high, low, close, volume, session) -> list[float]:  # type: ignore[no-untyped-def]
    """Σ tp·v / Σ v over each session prefix, in exact arithmetic."""
    out, turnover, traded, previous = [], Fraction(0), Fraction(0), object()
    for h, lo, c, v, key in zip(high, low, close, volume, session, strict=True):
        if key != previous:
            turnover, traded, previous = Fraction(0), Fraction(0), key
        typical = Fraction((h + lo + c) / 3)  # the float typical price, as specified
        turnover += typical * Fraction(v)
        traded += Fraction(v)
        out.append(float(turnover / traded) if traded else math.nan)
    return out


def generated(seed: int, n: int = 2000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))).round(2)
    high = close + rng.uniform(0, 0.5, n).round(2)
    low = close - rng.uniform(0, 0.5, n).round(2)
    volume = rng.integers(0, 5000, n).astype(float)
    volume[rng.random(n) < 0.05] = 0.0
    session = np.repeat(np.arange(n // 37 + 1), 37)[:n]
    session[n // 2 : n // 2 + 3] = [-1, -2, -3]  # three one-bar sessions
    return high, low, close, volume, session


def test_vwap_matches_the_direct_computation_on_generated_sessions() -> None:
    data = generated(1)
    np.testing.assert_allclose(vwap(*data), direct(*data), rtol=1e-13, atol=0)


def test_vwap_restarts_at_each_new_session_key() -> None:
    high, low, close = [11.0, 12, 13, 14], [9.0, 10, 11, 12], [10.0, 11, 12, 13]
    out = vwap(high, low, close, [1.0, 1, 1, 3], [1, 1, 2, 2])
    assert out.tolist() == [10.0, 10.5, 12.0, (12.0 + 3 * 13.0) / 4]


def test_a_key_seen_before_starts_a_new_session_when_it_returns() -> None:
    out = vwap([2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0], [7, 8, 7])
    assert out.tolist() == [2.0, 4.0, 6.0]


def test_vwap_is_nan_until_the_session_trades() -> None:
    out = vwap([2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [0.0, 0.0, 2.0], [1, 1, 1])
    assert np.isnan(out[:2]).all()
    assert out[2] == 6.0


def test_incremental_equals_batch_exactly() -> None:
    high, low, close, volume, session = generated(2)
    indicator = SessionVwap()
    values = []
    for row in zip(high, low, close, volume, session, strict=True):
        indicator.update(*row)
        values.append(indicator.value)
    np.testing.assert_array_equal(values, vwap(high, low, close, volume, session))


def test_incremental_accepts_int_volume_like_the_batch() -> None:
    indicator = SessionVwap()
    for volume in (3, 0, 7):
        indicator.update(10.5, 9.5, 10.0, volume, "2024-01-02")
    assert indicator.value == vwap([10.5] * 3, [9.5] * 3, [10.0] * 3, [3, 0, 7], ["d"] * 3)[-1]


def test_incremental_initialised_once_the_session_has_volume_and_reset() -> None:
    indicator = SessionVwap()
    assert not indicator.initialized
    indicator.update(10.0, 10.0, 10.0, 0.0, 1)
    assert not indicator.initialized
    assert math.isnan(indicator.value)
    indicator.update(12.0, 12.0, 12.0, 5.0, 1)
    assert indicator.initialized
    assert indicator.value == 12.0
    indicator.update(20.0, 20.0, 20.0, 0.0, 2)  # a new session without volume yet
    assert not indicator.initialized
    indicator.reset()
    indicator.update(30.0, 30.0, 30.0, 1.0, 2)  # same key as before reset: still a fresh start
    assert indicator.value == 30.0


def test_empty_series_needs_one_bar() -> None:
    with pytest.raises(InsufficientDataError) as err:
        vwap([], [], [], [], [])
    assert str(err.value) == "VWAP needs at least 1 values; got 0"


def test_negative_volume_is_refused_naming_the_bar() -> None:
    with pytest.raises(InvalidValue) as err:
        vwap([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [5.0, -1.0], [1, 1])
    assert err.value.field == "volume[1]"
    with pytest.raises(InvalidValue) as err:
        SessionVwap().update(1.0, 1.0, 1.0, -1.0, 1)
    assert err.value.field == "volume"


def test_lengths_must_match() -> None:
    with pytest.raises(InvalidValue) as err:
        vwap([1.0, 2.0], [1.0], [1.0, 2.0], [1.0, 1.0], [1, 1])
    assert err.value.field == "low"
    with pytest.raises(InvalidValue) as err:
        vwap([1.0], [1.0], [1.0], [1.0], [[1]])
    assert err.value.field == "session"


@pytest.mark.parametrize("field", ["high", "low", "close"])
def test_non_finite_price_is_refused_by_the_incremental(field: str) -> None:
    prices = {"high": 1.0, "low": 1.0, "close": 1.0}
    prices[field] = math.nan
    indicator = SessionVwap()
    with pytest.raises(InvalidValue) as err:
        indicator.update(prices["high"], prices["low"], prices["close"], 1.0, 1)
    assert err.value.field == field
    assert not indicator.initialized


def test_batch_does_not_modify_its_inputs() -> None:
    high, low, close, volume, session = generated(3, 200)
    copies = [a.copy() for a in (high, low, close, volume, session)]
    vwap(high, low, close, volume, session)
    for original, copy in zip((high, low, close, volume, session), copies, strict=True):
        assert np.array_equal(original, copy)
