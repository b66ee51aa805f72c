"""EMA: TA-Lib's convention (SMA seed, alpha 2/(p+1)), batch and incremental identical."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ordergate.domain.errors import InsufficientDataError, InvalidValue
from ordergate.domain.indicators import Ema, ema


def stream(indicator: Ema, values: list[float]) -> list[float]:
    out = []
    for value in values:
        indicator.update(value)
        out.append(indicator.value)
    return out


def test_warm_up_is_nan_and_first_value_is_the_sma_seed() -> None:
    out = ema([1.0, 2.0, 3.0, 4.0, 5.0], 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == 2.0  # (1 + 2 + 3) / 3


def test_recurrence_after_the_seed_uses_alpha_two_over_period_plus_one() -> None:
    out = ema([1.0, 2.0, 3.0, 4.0, 5.0], 3)
    alpha = 2 / 4
    expected_3 = 2.0 + alpha * (4.0 - 2.0)
    assert out[3] == pytest.approx(expected_3, abs=1e-15)
    assert out[4] == pytest.approx(expected_3 + alpha * (5.0 - expected_3), abs=1e-15)


def test_constant_series_has_constant_ema() -> None:
    assert (ema(np.full(500, 42.5), 8)[7:] == 42.5).all()


def test_period_one_is_the_series_itself() -> None:
    values = [3.0, -1.5, 7.25]
    assert ema(values, 1).tolist() == values
    assert stream(Ema(1), values) == values


def test_long_series_crosses_many_blocks_and_matches_the_plain_recurrence() -> None:
    rng = np.random.default_rng(7)
    values = 100 + np.cumsum(rng.normal(0, 1, 5000))
    got = ema(values, 21)
    alpha, expected = 2 / 22, float(np.mean(values[:21]))
    for i in range(21, len(values)):
        expected += alpha * (values[i] - expected)
    assert got[-1] == pytest.approx(expected, abs=1e-10)


def test_incremental_equals_batch_exactly_across_block_boundaries() -> None:
    rng = np.random.default_rng(3)
    values = (500 * np.exp(np.cumsum(rng.normal(0, 0.02, 1200)))).tolist()
    for period in (2, 8, 21, 200):
        np.testing.assert_array_equal(stream(Ema(period), values), ema(values, period))


def test_incremental_is_nan_and_uninitialised_until_period_values() -> None:
    indicator = Ema(3)
    indicator.update(1.0)
    indicator.update(2.0)
    assert math.isnan(indicator.value)
    assert not indicator.initialized
    indicator.update(3.0)
    assert indicator.initialized
    assert indicator.value == 2.0


def test_reset_forgets_everything() -> None:
    indicator = Ema(2)
    stream(indicator, [5.0, 6.0, 7.0])
    indicator.reset()
    assert not indicator.initialized
    assert math.isnan(indicator.value)
    first, second = stream(indicator, [1.0, 3.0])
    assert math.isnan(first)
    assert second == 2.0


def test_too_few_values_say_how_many_are_needed() -> None:
    with pytest.raises(InsufficientDataError) as err:
        ema([1.0, 2.0], 8)
    assert str(err.value) == "EMA(8) needs at least 8 values; got 2"
    assert (err.value.needed, err.value.got) == (8, 2)


def test_rejected_update_leaves_the_state_untouched() -> None:
    indicator = Ema(3)
    stream(indicator, [1.0, 2.0, 3.0, 4.0])
    before = indicator.value
    with pytest.raises(InvalidValue) as err:
        indicator.update(math.nan)
    assert err.value.field == "x"
    assert indicator.value == before
    indicator.update(5.0)
    assert indicator.value == ema([1.0, 2.0, 3.0, 4.0, 5.0], 3)[-1]


def test_batch_does_not_modify_its_input() -> None:
    values = np.linspace(1.0, 2.0, 50)
    copy = values.copy()
    ema(values, 8)
    assert np.array_equal(values, copy)
