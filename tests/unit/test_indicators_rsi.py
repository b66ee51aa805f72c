"""RSI: Wilder's smoothing by default (TA-Lib's), the seed's simple average as an option."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ordergate.domain.errors import InsufficientDataError, InvalidValue
from ordergate.domain.indicators import Rsi, rsi


def stream(indicator: Rsi, values: list[float]) -> list[float]:
    out = []
    for value in values:
        indicator.update(value)
        out.append(indicator.value)
    return out


def simple_rsi_direct(close: np.ndarray, period: int) -> np.ndarray:
    """The seed project's formula, window by window (np.mean of the last `period` changes)."""
    out = np.full(len(close), np.nan)
    change = np.diff(close)
    for end in range(period, len(close)):
        window = change[end - period : end]
        gain = np.mean(np.where(window > 0, window, 0.0))
        loss = np.mean(np.where(window < 0, -window, 0.0))
        out[end] = 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
    return out


def wilder_direct(close: list[float], period: int) -> list[float]:
    """Wilder's recurrence written plainly, as in TA-Lib."""
    out = [math.nan] * len(close)
    changes = [b - a for a, b in itertools.pairwise(close)]
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    out[period] = 100 * gain / (gain + loss) if gain + loss else 0.0
    for i, change in enumerate(changes[period:], start=period + 1):
        gain = (gain * (period - 1) + max(change, 0.0)) / period
        loss = (loss * (period - 1) + max(-change, 0.0)) / period
        out[i] = 100 * gain / (gain + loss) if gain + loss else 0.0
    return out


def test_first_value_is_at_index_period() -> None:
    out = rsi(np.arange(1.0, 17.0), 14)
    assert np.isnan(out[:14]).all()
    assert not np.isnan(out[14:]).any()


def test_only_gains_give_100_and_only_losses_give_0() -> None:
    assert (rsi(np.arange(1.0, 40.0), 14)[14:] == 100.0).all()
    assert (rsi(np.arange(40.0, 1.0, -1), 14)[14:] == 0.0).all()


def test_flat_series_gives_0_like_talib() -> None:
    assert (rsi(np.full(30, 17.25), 14)[14:] == 0.0).all()
    assert stream(Rsi(14), [17.25] * 30)[-1] == 0.0


def test_wilder_matches_the_plain_recurrence_over_many_blocks() -> None:
    rng = np.random.default_rng(11)
    close = (200 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))).round(2)
    np.testing.assert_allclose(
        rsi(close, 14), wilder_direct(close.tolist(), 14), rtol=0, atol=1e-10
    )


def test_flat_stretch_after_moves_keeps_the_last_ratio() -> None:
    close = np.r_[np.linspace(10, 12, 20), np.full(50, 12.0)]
    out = rsi(close, 14)
    np.testing.assert_allclose(out, wilder_direct(close.tolist(), 14), atol=1e-10)
    assert out[-1] == pytest.approx(100.0)


def test_simple_method_matches_the_direct_windowed_computation() -> None:
    rng = np.random.default_rng(5)
    close = (50 + np.cumsum(rng.normal(0, 1, 400))).round(2)
    for period in (1, 2, 14, 30):
        np.testing.assert_allclose(
            rsi(close, period, method="simple"), simple_rsi_direct(close, period), atol=1e-9
        )


def test_simple_method_without_losses_is_100_even_when_flat() -> None:
    out = rsi([5.0, 6.0, 6.0, 6.0, 6.0], 3, method="simple")
    assert out[3:].tolist() == [100.0, 100.0]


def test_incremental_equals_batch_exactly_for_both_methods() -> None:
    rng = np.random.default_rng(9)
    close = (300 * np.exp(np.cumsum(rng.normal(0, 0.015, 1500)))).round(2).tolist()
    close[700:760] = [close[700]] * 60  # a flat stretch
    for method in ("wilder", "simple"):
        for period in (1, 2, 14, 60):
            np.testing.assert_array_equal(
                stream(Rsi(period, method), close), rsi(close, period, method)
            )


def test_period_one_wilder_is_100_up_0_down_0_flat() -> None:
    out = rsi([1.0, 2.0, 1.5, 1.5], 1)
    assert out[1:].tolist() == [100.0, 0.0, 0.0]
    assert stream(Rsi(1), [1.0, 2.0, 1.5, 1.5])[1:] == [100.0, 0.0, 0.0]


def test_incremental_initialises_after_period_plus_one_closes_and_resets() -> None:
    indicator = Rsi(2)
    for close in (1.0, 2.0):
        indicator.update(close)
        assert not indicator.initialized
    indicator.update(3.0)
    assert indicator.initialized
    assert indicator.value == 100.0
    indicator.reset()
    assert not indicator.initialized
    assert math.isnan(indicator.value)
    assert stream(indicator, [3.0, 2.0, 1.0])[-1] == 0.0


def test_too_few_closes_say_how_many_are_needed() -> None:
    with pytest.raises(InsufficientDataError) as err:
        rsi(np.arange(14.0), 14)
    assert str(err.value) == "RSI(14) needs at least 15 values; got 14"


def test_unknown_method_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValue) as err:
        rsi(np.arange(20.0), 14, method="cutler")  # type: ignore[arg-type]
    assert err.value.field == "method"
    assert "cutler" in str(err.value)
    with pytest.raises(InvalidValue):
        Rsi(14, method="ema")  # type: ignore[arg-type]


def test_rejected_close_leaves_the_state_untouched() -> None:
    indicator = Rsi(3)
    closes = [1.0, 2.0, 1.5, 2.5, 3.0]
    stream(indicator, closes)
    with pytest.raises(InvalidValue) as err:
        indicator.update(math.inf)
    assert err.value.field == "close"
    indicator.update(2.0)
    assert indicator.value == rsi([*closes, 2.0], 3)[-1]
