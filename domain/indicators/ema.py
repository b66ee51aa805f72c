"""Exponential moving average, TA-Lib convention: seeded with the SMA of the first `period` values.

`ema()` (batch) and `Ema` (incremental) run the blocked recurrence of `_smoothing` on the values
shifted by the first one, `z = x − x[0]`, and add `x[0]` back: the EMA is shift-equivariant, and
working on `z` makes a constant series come out exactly constant (its `z` is exactly 0), as it
does in TA-Lib — two EMAs of a flat price never cross by rounding. Both return identical floats
and agree with `talib.EMA` to ~1e-14 relative.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=64)
def _plan(period: int) -> SmoothingPlan:
    gain = 2.0 / (period + 1)  # TA-Lib's PER_TO_K
    return SmoothingPlan.build(gain, 1.0 - gain)


def ema(values: Any, period: int) -> FloatArray:
    """EMA of a 1-D series; NaN for the first `period - 1` entries (the warm-up).

    The value at index `period - 1` is the SMA of the first `period` values; after it,
    `ema = ema_prev + alpha·(x - ema_prev)` with `alpha = 2/(period+1)`. EMA(1) is the series.
    Raises `InvalidValue` for a bad period or non-finite values, `InsufficientDataError` when
    fewer than `period` values are given.
    """
    period = check_period("period", period)
    x = as_series("values", values)
    require_length(f"EMA({period})", period, len(x))
    if period == 1:
        return x.copy()
    reference = float(x[0])
    out = np.empty(len(x), dtype=np.float64)
    out[: period - 1] = np.nan
    shifted = out[period - 1 :]
    np.subtract(x[period - 1 :], reference, out=shifted)
    head = np.subtract(x[:period], reference)
    # np.cumsum adds strictly left to right, like `Ema`'s running seed sum.
    seed = float(np.cumsum(head)[-1]) / period
    _smooth(shifted[1:], seed, _plan(period), shifted[1:])
    shifted[0] = seed
    np.add(shifted, reference, out=shifted)
    return out


def _smooth(values: FloatArray, seed: float, plan: SmoothingPlan, out: FloatArray) -> None:
    """`out[i]` = the smoothed value after `values[i]`, continuing from `seed` (`_smoothing`).

    `out` may be `values` itself.
    """
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
        "_j",
        "_last_pow",
        "_pow",
        "_reference",
        "_scale",
        "_sum",
        "_value",
        "period",
    )

    def __init__(self, period: int = 8) -> None:
        self.period: int = check_period("period", period)
        plan = _plan(self.period)
        self._block = plan.block
        self._last_pow = plan.last_pow
        # Index 0 is padding so the update can index the tables with j = 1..block directly.
        self._scale: list[float] = [math.nan, *plan.scale.tolist()]
        self._pow: list[float] = [math.nan, *plan.decay_pow.tolist()]
        self.reset()

    def reset(self) -> None:
        """Forget every value seen; the object is as new."""
        self._count = 0
        self._reference = 0.0
        self._sum = -0.0  # IEEE's additive identity: the first addition yields the term itself
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
        if self._count >= self.period:
            if self.period == 1:
                self._value = x
                return
            # One step of the blocked recurrence (`_smoothing`) on z = x - reference.
            j = self._j + 1
            total = self._sum + (x - self._reference) * self._scale[j]
            smoothed = self._pow[j] * (self._anchor + total)
            if j == self._block:
                self._anchor = smoothed
                self._sum = -0.0
                self._j = 0
            else:
                self._sum = total
                self._j = j
            self._value = smoothed + self._reference
            return
        self._warm_up(x)

    def _warm_up(self, x: float) -> None:
        if self._count == 0:
            self._reference = x
        self._sum += x - self._reference
        self._count += 1
        if self._count == self.period:
            self._anchor = self._sum / self.period
            self._sum = -0.0
            self._value = x if self.period == 1 else self._anchor + self._reference
