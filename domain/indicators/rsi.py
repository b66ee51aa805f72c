"""Relative Strength Index: Wilder's smoothing (TA-Lib's RSI, the default) or a simple average.

Wilder (`method="wilder"`): the average gain and the average absolute change are seeded with the
plain means of the first `period` changes, then smoothed with weight 1/period, and
RSI = 100·gain/(gain+loss) = 100·avg_gain/avg_abs_change. As TA-Lib does, RSI is 100 when there
is no loss and 0 when there is no move at all (gain + loss == 0, a flat window).

The smoothing is the blocked closed form of `_smoothing`, where each average is `P_j·(a + S_j)`.
The factor `P_j` is common to both averages and cancels in the ratio, so the RSI is computed as
`100·((a_g + S_g)/(a_t + S_t))`; `rsi()` and `Rsi` perform exactly these operations in this order.
(After some 10,000 bars without any move the averages underflow to subnormal numbers, in TA-Lib
as here; the two may then differ in the last bars before both reach exactly 0.)

Simple (`method="simple"`, the seed project's variant): the plain means of the last `period`
gains and losses, summed directly over each window (no running total, hence no drift: a window
without losses sums to exactly 0); RSI = 100 − 100/(1 + gain/loss), and 100 when the loss is 0.

The first value is at index `period`: it needs `period` changes, i.e. `period + 1` closes.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

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

__all__ = ["Rsi", "RsiMethod", "rsi"]

RsiMethod = Literal["wilder", "simple"]

_METHODS = ("wilder", "simple")


def _check_method(method: Any) -> RsiMethod:
    if method == "wilder":
        return "wilder"
    if method == "simple":
        return "simple"
    raise InvalidValue("method", method, f"must be one of {_METHODS}")


@functools.lru_cache(maxsize=64)
def _wilder_plan(period: int) -> SmoothingPlan:
    return SmoothingPlan.build(1.0 / period, (period - 1) / period)


def rsi(close: Any, period: int = 14, method: RsiMethod = "wilder") -> FloatArray:
    """RSI of a 1-D series of closes; NaN for the first `period` entries.

    Raises `InvalidValue` for a bad period, method or non-finite values, and
    `InsufficientDataError` when fewer than `period + 1` closes are given.
    """
    period = check_period("period", period)
    method = _check_method(method)
    x = as_series("close", close)
    require_length(f"RSI({period})", period + 1, len(x))
    out = np.empty(len(x), dtype=np.float64)
    out[:period] = np.nan
    # The only scratch array; every later stage reuses it or `out` (see `_blocks`).
    change = np.subtract(x[1:], x[:-1], out=np.empty(len(x) - 1, dtype=np.float64))
    if method == "simple":
        _simple_into(change, period, out[period:])
    else:
        _wilder_into(change, period, out[period:])
    return out


def _ratio(gain: float, total: float) -> float:
    return 100.0 * (gain / total) if total > 0.0 else 0.0


def _wilder_into(change: FloatArray, period: int, out: FloatArray) -> None:
    """RSI after each change from change `period - 1` on; `change` is consumed as scratch."""
    head = change[:period]
    # Seeds summed left to right (accumulate is sequential), like `Rsi`'s warm-up.
    seed_gain = float(np.cumsum(np.maximum(head, 0.0))[-1]) / period
    seed_abs = float(np.cumsum(np.abs(head))[-1]) / period
    out[0] = _ratio(seed_gain, seed_abs)
    rest, gains = change[period:], out[1:]
    plan = _wilder_plan(period)
    if plan.decay == 0.0:  # period 1: each average is the latest move itself
        np.maximum(rest, 0.0, out=gains)
        moves = np.abs(rest, out=rest)
        anchors_positive = False
    else:
        apply_by_position(np.multiply, rest, plan.scale, gains)  # t_j = change·U_j
        moves = np.abs(gains, out=rest)
        np.maximum(gains, 0.0, out=gains)
        last_pow, block = plan.last_pow, plan.block
        totals = prefix_sums_within_blocks(gains, block)
        apply_per_block(np.add, gains, block_anchors(seed_gain, totals, last_pow), block, gains)
        anchors = block_anchors(seed_abs, prefix_sums_within_blocks(moves, block), last_pow)
        apply_per_block(np.add, moves, anchors, block, moves)
        # a_t + S_t >= a_t, as S_t sums non-negative terms: when every anchor in use is
        # positive no window is flat, and the comparison pass below is not needed.
        anchors_positive = min(anchors[: -(-len(rest) // block)], default=1.0) > 0.0
    flat = None if anchors_positive else moves == 0.0
    if flat is None or not flat.any():
        np.divide(gains, moves, out=gains)
        np.multiply(gains, 100.0, out=gains)
        return
    moving = ~flat
    np.divide(gains, moves, out=gains, where=moving)
    np.multiply(gains, 100.0, out=gains, where=moving)
    gains[flat] = 0.0


def _simple_into(change: FloatArray, period: int, out: FloatArray) -> None:
    gains = np.maximum(change, 0.0)
    losses = gains - change  # == max(-change, 0), exactly
    windows = len(change) - period + 1
    gain_sum, loss_sum = gains[:windows].copy(), losses[:windows].copy()
    # Each window summed oldest first, the order `Rsi` walks its window in.
    for lag in range(1, period):
        gain_sum += gains[lag : lag + windows]
        loss_sum += losses[lag : lag + windows]
    gain_sum /= period
    loss_sum /= period
    no_loss = loss_sum == 0.0
    np.divide(gain_sum, loss_sum, out=out, where=~no_loss)
    out[no_loss] = 0.0  # a defined value (`out` is uninitialised there), overwritten below
    np.add(out, 1.0, out=out)
    np.divide(100.0, out, out=out)
    np.subtract(100.0, out, out=out)
    out[no_loss] = 100.0


def _simple_value(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


class Rsi:
    """Incremental RSI; after the same closes, `value` equals `rsi(...)[-1]` exactly.

    `value` is NaN until `period + 1` closes have been seen (`initialized` turns True then).
    """

    __slots__ = (
        "_anchor_abs",
        "_anchor_gain",
        "_block",
        "_changes",
        "_j",
        "_last_pow",
        "_prev",
        "_scale",
        "_sum_abs",
        "_sum_gain",
        "_value",
        "_wilder_ready",
        "_window",
        "method",
        "period",
    )

    def __init__(self, period: int = 14, method: RsiMethod = "wilder") -> None:
        self.period: int = check_period("period", period)
        self.method: RsiMethod = _check_method(method)
        plan = _wilder_plan(self.period)
        self._block = plan.block if plan.decay > 0.0 else 0
        self._last_pow = plan.last_pow
        # Index 0 is padding so the update can index the table with j = 1..block directly.
        self._scale: list[float] = [math.nan, *plan.scale.tolist()]
        self.reset()

    def reset(self) -> None:
        """Forget every close seen; the object is as new."""
        self._prev = math.nan
        self._changes = -1  # -1: no close yet, hence no change either
        self._sum_gain = self._sum_abs = -0.0
        self._anchor_gain = self._anchor_abs = math.nan
        self._j = 0
        self._window: list[tuple[float, float]] = []
        self._wilder_ready = False
        self._value = math.nan

    @property
    def value(self) -> float:
        """The current RSI (0..100), NaN during warm-up."""
        return self._value

    @property
    def initialized(self) -> bool:
        """True once `period` changes (`period + 1` closes) have been seen."""
        return self._changes >= self.period

    def update(self, close: float) -> None:
        """Feed the next close. Raises `InvalidValue` for NaN, infinities or |x| > 1e100."""
        if not -MAX_ABS <= close <= MAX_ABS:
            raise InvalidValue("close", close, series_rule())
        change = close - self._prev
        self._prev = close
        if self._wilder_ready and self._block:
            # The hot path, inlined: one block step of `_smoothing` for gains and |changes|.
            j = self._j + 1
            scaled = change * self._scale[j]
            sum_gain = self._sum_gain + (scaled if scaled >= 0.0 else 0.0)
            sum_abs = self._sum_abs + abs(scaled)
            gain = self._anchor_gain + sum_gain
            moves = self._anchor_abs + sum_abs
            if j == self._block:
                self._anchor_gain = self._last_pow * gain
                self._anchor_abs = self._last_pow * moves
                self._sum_gain = self._sum_abs = -0.0
                self._j = 0
            else:
                self._sum_gain = sum_gain
                self._sum_abs = sum_abs
                self._j = j
            self._value = 100.0 * (gain / moves) if moves > 0.0 else 0.0
        elif self._wilder_ready:  # period 1: each average is the latest move itself
            self._value = _ratio(change if change >= 0.0 else 0.0, abs(change))
        elif self._changes < 0:
            self._changes = 0
        elif self.method == "simple":
            self._simple_step(change)
        else:
            self._wilder_warm_up(change)

    def _wilder_warm_up(self, change: float) -> None:
        self._sum_gain += change if change >= 0.0 else 0.0  # as np.maximum(change, 0.0)
        self._sum_abs += abs(change)
        self._changes += 1
        if self._changes == self.period:
            self._anchor_gain = self._sum_gain / self.period
            self._anchor_abs = self._sum_abs / self.period
            self._sum_gain = self._sum_abs = -0.0
            self._value = _ratio(self._anchor_gain, self._anchor_abs)
            self._wilder_ready = True

    def _simple_step(self, change: float) -> None:
        gain = change if change >= 0.0 else 0.0  # as np.maximum(change, 0.0)
        window = self._window
        window.append((gain, gain - change))
        if len(window) > self.period:
            del window[0]
        self._changes += 1
        if len(window) < self.period:
            return
        # Oldest first, each sum starting at -0.0 (IEEE's additive identity), like the batch.
        gains = losses = -0.0
        for up, down in window:
            gains += up
            losses += down
        self._value = _simple_value(gains / self.period, losses / self.period)
