"""Bad input to any indicator is refused with InvalidValue naming the parameter and the value."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.indicators import BollingerBands, Ema, Rsi, bollinger, ema, rsi

BATCH: dict[str, Callable[..., Any]] = {"ema": ema, "rsi": rsi, "bollinger": bollinger}
STREAM: dict[str, Callable[[Any], Any]] = {"ema": Ema, "rsi": Rsi, "bollinger": BollingerBands}
VALUES = np.linspace(10.0, 20.0, 40)


@pytest.mark.parametrize("name", sorted(BATCH))
@pytest.mark.parametrize("period", [0, -3, 2.5, "14", True, None])
def test_bad_period_is_refused_naming_it(name: str, period: object) -> None:
    with pytest.raises(InvalidValue) as err:
        BATCH[name](VALUES, period)
    assert err.value.field == "period"
    assert err.value.value == period
    assert "integer >= 1" in str(err.value)
    with pytest.raises(InvalidValue):
        STREAM[name](period)


@pytest.mark.parametrize("name", sorted(BATCH))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e101])
def test_non_finite_or_huge_value_is_refused_naming_its_index(name: str, bad: float) -> None:
    values = VALUES.copy()
    values[7] = bad
    with pytest.raises(InvalidValue) as err:
        BATCH[name](values, 5)
    assert err.value.field.endswith("[7]")
    assert "must be finite" in str(err.value)


@pytest.mark.parametrize("name", sorted(BATCH))
@pytest.mark.parametrize(
    "values",
    [np.ones((5, 5)), ["a", "b", "c"], [True, False, True], [1 + 2j, 3j], [[1.0], [2.0, 3.0]]],
    ids=["2-D", "strings", "bools", "complex", "ragged"],
)
def test_values_that_are_not_a_1d_real_series_are_refused(name: str, values: Any) -> None:
    with pytest.raises(InvalidValue):
        BATCH[name](values, 2)


@pytest.mark.parametrize("name", sorted(BATCH))
def test_lists_and_int_arrays_are_accepted_as_series(name: str) -> None:
    as_list = BATCH[name](list(range(1, 30)), 5)
    as_ints = BATCH[name](np.arange(1, 30), 5)
    np.testing.assert_array_equal(np.asarray(as_list), np.asarray(as_ints))


@pytest.mark.parametrize("name", sorted(STREAM))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e200])
def test_incremental_refuses_non_finite_values(name: str, bad: float) -> None:
    with pytest.raises(InvalidValue) as err:
        STREAM[name](5).update(bad)
    assert "must be finite" in str(err.value)


def test_error_message_states_field_rule_and_value() -> None:
    with pytest.raises(InvalidValue) as err:
        ema([1.0, math.nan, 3.0], 2)
    assert str(err.value) == "values[1]: must be finite with magnitude <= 1e+100; got nan (float)"
