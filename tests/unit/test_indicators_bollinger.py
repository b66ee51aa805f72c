"""Bollinger Bands: SMA ± k population deviations, accurate on quiet windows at high prices."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from ordergate.domain.errors import InsufficientDataError, InvalidValue
from ordergate.domain.indicators import BollingerBands, bollinger


def stream(indicator: BollingerBands, values: list[float]) -> np.ndarray:
    out = []
    for value in values:
        indicator.update(value)
        out.append((indicator.upper, indicator.middle, indicator.lower))
    return np.array(out).T


def exact(window: np.ndarray) -> tuple[float, float]:
    """Mean and population deviation in exact rational arithmetic."""
    values = [Fraction(v) for v in window]
    mean = sum(values) / len(values)
    return float(mean), math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def test_bands_are_mean_plus_minus_k_population_deviations() -> None:
    bands = bollinger([1.0, 2.0, 3.0, 4.0], 4, k=2.0)
    deviation = math.sqrt(1.25)  # population variance of 1..4
    assert np.isnan(bands.middle[:3]).all()
    assert bands.middle[3] == 2.5
    assert bands.upper[3] == pytest.approx(2.5 + 2 * deviation, abs=1e-15)
    assert bands.lower[3] == pytest.approx(2.5 - 2 * deviation, abs=1e-15)


def test_flat_window_has_exactly_zero_width() -> None:
    bands = bollinger(np.r_[np.linspace(90, 110, 50), np.full(60, 123.45)], 20)
    assert (bands.upper[-30:] == 123.45).all()
    assert (bands.lower[-30:] == 123.45).all()


def test_quiet_window_at_a_high_price_is_accurate() -> None:
    # The naive E[x²] - E[x]² loses everything here: the variance is 1e-12 next to 1e6.
    rng = np.random.default_rng(1)
    close = np.r_[1000 + rng.normal(0, 5, 200), 1000 + rng.normal(0, 1e-6, 200)]
    bands = bollinger(close, 20, k=1.0)
    for end in range(19, len(close), 7):
        mean, deviation = exact(close[end - 19 : end + 1])
        assert bands.middle[end] == pytest.approx(mean, abs=1e-11)
        assert bands.upper[end] - bands.middle[end] == pytest.approx(deviation, abs=1e-10)


def test_long_random_walk_stays_accurate_over_many_blocks() -> None:
    rng = np.random.default_rng(2)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, 20_000)))).round(2)
    bands = bollinger(close, 20, k=1.0)
    for end in range(19, len(close), 997):
        mean, deviation = exact(close[end - 19 : end + 1])
        assert bands.middle[end] == pytest.approx(mean, abs=1e-11)
        assert bands.upper[end] - bands.middle[end] == pytest.approx(deviation, abs=1e-10)


def test_incremental_equals_batch_exactly_including_fallback_windows() -> None:
    rng = np.random.default_rng(4)
    close = np.r_[
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300))),
        np.full(40, 77.7),  # flat: zero deviation
        5000 + rng.normal(0, 1e-7, 100),  # quiet at a high price: the exact fallback
        rng.uniform(1, 1000, 100),  # wild: large running sums
    ].tolist()
    for period, k in ((1, 2.0), (2, 1.0), (20, 2.0), (45, 0.5)):
        np.testing.assert_array_equal(
            stream(BollingerBands(period, k), close), np.array(bollinger(close, period, k))
        )


def test_incremental_value_is_the_middle_band_and_reset_forgets() -> None:
    indicator = BollingerBands(3)
    for value in (1.0, 2.0):
        indicator.update(value)
        assert not indicator.initialized
        assert math.isnan(indicator.value)
    indicator.update(3.0)
    assert indicator.initialized
    assert indicator.value == indicator.middle == 2.0
    indicator.reset()
    assert not indicator.initialized
    assert math.isnan(indicator.upper)
    np.testing.assert_array_equal(
        stream(indicator, [4.0, 5.0, 9.0]), np.array(bollinger([4.0, 5.0, 9.0], 3))
    )


def test_zero_k_collapses_the_bands_onto_the_mean() -> None:
    bands = bollinger(np.arange(30.0), 5, k=0)
    np.testing.assert_array_equal(bands.upper, bands.middle)
    np.testing.assert_array_equal(bands.lower, bands.middle)


def test_too_few_values_say_how_many_are_needed() -> None:
    with pytest.raises(InsufficientDataError) as err:
        bollinger(np.arange(19.0), 20)
    assert str(err.value) == "BBANDS(20) needs at least 20 values; got 19"


@pytest.mark.parametrize("k", [-1.0, math.nan, math.inf, "2", True])
def test_bad_multiplier_is_refused_naming_it(k: object) -> None:
    with pytest.raises(InvalidValue) as err:
        bollinger(np.arange(30.0), 20, k=k)  # type: ignore[arg-type]
    assert err.value.field == "k"
    with pytest.raises(InvalidValue):
        BollingerBands(20, k=k)  # type: ignore[arg-type]


def test_rejected_value_leaves_the_state_untouched() -> None:
    indicator = BollingerBands(3)
    stream(indicator, [1.0, 2.0, 4.0])
    with pytest.raises(InvalidValue):
        indicator.update(math.nan)
    indicator.update(8.0)
    assert indicator.upper == bollinger([1.0, 2.0, 4.0, 8.0], 3).upper[-1]


def test_batch_does_not_modify_its_input() -> None:
    values = np.linspace(1.0, 2.0, 100)
    copy = values.copy()
    bollinger(values, 20)
    assert np.array_equal(values, copy)
