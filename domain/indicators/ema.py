"""Exponential moving average, TA-Lib convention: seeded with the SMA of the first `period` values.

`ema()` (batch) and `Ema` (incremental) share the blocked recurrence of `_smoothing`, so they
return identical floats; both agree with `talib.EMA` to ~1e-14 relative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ordergate.domain.errors import InvalidValue
from ordergate.domain.indicators._blocks import (
    apply_by_position,
    apply_per_block,
    prefix_sums_within_blocks,
)
from ordergate.domain.indicators._smoothing import SmoothingPlan, block_anchors
from ordergate.domain.indicators._validation import (
    MAX_ABS,
    FloatArray,
    as_series,
    check_period,
    require_length,
    series_rule,
)

__all__ = ["Ema", "ema"]


def _plan(period: int) -> SmoothingPlan:
    gain = 2.0 / (period + 1)  # TA-Lib's PER_TO_K
    return SmoothingPlan.build(gain, 1.0 - gain)


def ema(values: Any, period: int) -> FloatArray:
    """EMA of a 1-D series; NaN for the first `period - 1` entries (the warm-up).

    The value at index `period - 1` is the SMA of the first `period` values (summed left to
    right); after it, `ema = ema_prev + alpha·(x - ema_prev)` with `alpha = 2/(period+1)`.
    Raises `InvalidValue` for a bad period or non-finite values, `InsufficientDataError` when
    fewer than `period` values are given.
    """
    period = check_period("period", period)
    x = as_series("values", values)
    require_length(f"EMA({period})", period, len(x))
    out = np.empty(len(x), dtype=np.float64)
    out[: period - 1] = np.nan
    # np.cumsum adds strictly left to right, like `Ema`'s running seed sum.
    seed = float(np.cumsum(x[:period])[-1]) / period
    out[period - 1] = seed
    _smooth(x[period:], seed, _plan(period), out[period:])
    return out


def _smooth(values: FloatArray, seed: float, plan: SmoothingPlan, out: FloatArray) -> None:
    """`out[i]` = the EMA after `values[i]`, continuing from `seed` (see `_smoothing`)."""
    if plan.decay == 0.0:  # period 1: alpha 1, the EMA is the value itself
        np.multiply(values, plan.gain, out=out)
        return
    apply_by_position(np.multiply, values, plan.scale, out)  # v_j·U_j
    totals = prefix_sums_within_blocks(out, plan.block)  # S_j
    anchors = block_anchors(seed, totals, plan.last_pow)
    apply_per_block(np.add, out, anchors, plan.block, out)  # a + S_j
    apply_by_position(np.multiply, out, plan.decay_pow, out)  # P_j·(a + S_j)


class Ema:
    """Incremental EMA; after the same inputs, `value` equals `ema(...)[-1]` exactly.

    `value` is NaN until `period` values have been seen (`initialized` turns True then).
    """

    __slots__ = (
        "_anchor",
        "_block",
        "_count",
        "_gain",
        "_j",
        "_pow",
        "_scale",
        "_sum",
        "_value",
        "period",
    )

    def __init__(self, period: int = 8) -> None:
        self.period: int = check_period("period", period)
        plan = _plan(self.period)
        self._gain = plan.gain
        self._block = plan.block if plan.decay > 0.0 else 0
        # Index 0 is padding so the update can index the tables with j = 1..block directly.
        self._scale: list[float] = [math.nan, *plan.scale.tolist()]
        self._pow: list[float] = [math.nan, *plan.decay_pow.tolist()]
        self.reset()

    def reset(self) -> None:
        """Forget every value seen; the object is as new."""
        self._count = 0
        self._sum = -0.0
        self._anchor = math.nan
        self._j = 0
        self._value = math.nan

    @property
    def value(self) -> float:
        """The current EMA, NaN during warm-up."""
        return self._value

    @property
    def initialized(self) -> bool:
        """True once `period` values have been seen."""
        return self._count >= self.period

    def update(self, x: float) -> None:
        """Feed the next value. Raises `InvalidValue` for NaN, infinities or |x| > 1e100."""
        if not -MAX_ABS <= x <= MAX_ABS:
            raise InvalidValue("x", x, series_rule())
        count = self._count
        if count >= self.period:
            if not self._block:  # period 1: decay 0, no recurrence left
                self._value = x * self._gain
                return
            j = self._j + 1
            total = self._sum + x * self._scale[j]
            value = self._pow[j] * (self._anchor + total)
            if j == self._block:
                self._anchor = value
                self._sum = -0.0
                self._j = 0
            else:
                self._sum = total
                self._j = j
            self._value = value
            return
        # Warm-up: the seed is the SMA of the first `period` values.
        self._sum += x
        self._count = count = count + 1
        if count == self.period:
            self._anchor = self._value = self._sum / count
            self._sum = -0.0
