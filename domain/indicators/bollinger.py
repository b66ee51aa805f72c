"""Bollinger Bands: the SMA of the last `period` values ± k population standard deviations.

The textbook running sums (Σx and Σx², TA-Lib's historic method) lose everything to cancellation
on a quiet window at a high price: at 1000 ± 1e-6, E[x²] − E[x]² is a difference of two numbers
near 1e6 whose true value is 1e-12. TA-Lib today returns the accurate deviation there, so this
module must be accurate too. It uses, identically in `bollinger()` and `BollingerBands`:

* **Shifted running sums, restarted every `_BLOCK` windows.** At the first window of a block the
  shift `c` is set to that window's newest value and `A = Σ(x−c)`, `Q = Σ(x−c)²` are summed
  afresh (oldest first); the next windows of the block update them by the entering and leaving
  values: `dA = y_new − y_old`, `A += dA`, `Q += dA·(y_new + y_old)`, with `y = x − c`. Then
  `mean = c + A/p` and `var = (Q − A·(A/p))/p`. The batch does the updates of all blocks at once,
  column by column (see `_blocks`).
* **A proven error bound, and an exact fallback.** The variance error is at most
  `_error_factors(p)[j]·Qmax`, j windows into the block, where `Qmax` is the largest `Q` of
  the block so far (a rounding analysis of the sums above, with a factor-2 margin). When that
  bound could move the deviation by more than `_STD_TOLERANCE` (5e-11), the window is
  recomputed directly, two-pass: `d = x − mean`, `var = Σd²/p − (Σd/p)²` — exactly 0 for a
  flat window.

On ordinary prices the fallback is rare (quiet or flat windows); when it triggers, that window
costs O(period) instead of O(1).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ordergate.domain.errors import InvalidValue
from ordergate.domain.indicators._blocks import (
    apply_per_block,
    prefix_sums_within_blocks,
)
from ordergate.domain.indicators._validation import (
    MAX_ABS,
    FloatArray,
    as_series,
    check_multiplier,
    check_period,
    require_length,
    series_rule,
)

__all__ = ["Bands", "BollingerBands", "bollinger", "last_block_start"]

# Windows per block: shorter blocks give tighter error bounds (fewer fallbacks) but more fresh
# O(period) sums; 32 keeps both small.
_BLOCK = 32
# Largest deviation error accepted from the running sums before recomputing the window directly.
_STD_TOLERANCE = 5e-11
_UNIT_ROUNDOFF = 2.0**-53


def _error_factors(period: int) -> FloatArray:
    """Bound on |computed − true variance| per unit of `Qmax`, j windows into a block.

    Rounding analysis of the shifted sums (module docstring): the fresh sums contribute
    ~(p+1)·u·Qmax/p, each update ≤ 7u·Qmax to Q and ≤ 3u·sqrt(p·Qmax) to A, the final
    operations ≤ 6u·Qmax/p; in all ≤ u·(5p + 19j + 16)·Qmax/p, doubled for safety.
    """
    j = np.arange(_BLOCK, dtype=np.float64)
    factors = 2.0 * _UNIT_ROUNDOFF * (5 * period + 19 * j + 16) / period
    factors.setflags(write=False)
    return factors


class Bands(NamedTuple):
    """The three Bollinger series returned by `bollinger` (upper ≥ middle ≥ lower)."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def bollinger(close: Any, period: int = 20, k: float = 2.0) -> Bands:
    """Bollinger Bands of a 1-D series; NaN for the first `period - 1` entries of each band.

    Raises `InvalidValue` for a bad period, a negative or non-finite `k` or non-finite values,
    and `InsufficientDataError` when fewer than `period` values are given.
    """
    period = check_period("period", period)
    k = check_multiplier("k", k)
    x = as_series("close", close)
    require_length(f"BBANDS({period})", period, len(x))
    return _bands(x, period, k)


def _bands(x: FloatArray, period: int, k: float) -> Bands:
    """The batch computation. Only the three output arrays are allocated at full size: they
    hold the intermediate arrays too, and so trade roles on the way (fresh memory costs a page
    fault per 4 KiB, more than the arithmetic)."""
    first, second, third = (np.empty(len(x), dtype=np.float64) for _ in range(3))
    for array in (first, second, third):
        array[: period - 1] = np.nan
    a, b, c = first[period - 1 :], second[period - 1 :], third[period - 1 :]
    windows = len(a)
    shift = x[period - 1 :: _BLOCK]  # per block: the newest value of its first window
    fresh_sum, fresh_squares = _fresh_sums(x, period, shift)
    # Increments of the shifted running sums: y = x - c, dA = y_new - y_old,
    # dQ = dA·(y_new + y_old); block starts take their fresh sums instead.
    apply_per_block(np.subtract, x[period - 1 :], shift, _BLOCK, c)  # y_new
    a[0] = shift[0]  # a defined value at a block start, overwritten below
    a[1:] = x[: windows - 1]
    apply_per_block(np.subtract, a, shift, _BLOCK, a)  # y_old
    np.subtract(c, a, out=b)  # dA
    np.add(c, a, out=a)
    np.multiply(a, b, out=a)  # dQ
    b[::_BLOCK] = fresh_sum
    a[::_BLOCK] = fresh_squares
    prefix_sums_within_blocks(b, _BLOCK)  # A
    prefix_sums_within_blocks(a, _BLOCK)  # Q
    np.divide(b, period, out=c)  # A/p
    np.multiply(b, c, out=b)
    np.subtract(a, b, out=b)
    np.divide(b, period, out=b)  # variance = (Q - A·(A/p))/p
    if len(b) and b.min() < 0.0:  # rounding can push a zero variance below 0
        np.maximum(b, 0.0, out=b)
    np.sqrt(b, out=b)  # deviation
    _recompute_unsafe(x, period, squares=a, deviation=b, shifted_mean=c, shift=shift)
    apply_per_block(np.add, c, shift, _BLOCK, a)  # mean = c + A/p
    np.multiply(b, k, out=b)
    np.subtract(a, b, out=c)
    np.add(a, b, out=b)
    return Bands(upper=second, middle=first, lower=third)


def _fresh_sums(x: FloatArray, period: int, shift: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Σ(x−c) and Σ(x−c)² over the first window of every block, oldest value first."""
    blocks = len(shift)
    shifted = x[::_BLOCK][:blocks] - shift
    total, squares = shifted.copy(), shifted * shifted
    for lag in range(1, period):
        np.subtract(x[lag::_BLOCK][:blocks], shift, out=shifted)
        total += shifted
        squares += shifted * shifted
    return total, squares


def _recompute_unsafe(
    x: FloatArray,
    period: int,
    *,
    squares: FloatArray,
    deviation: FloatArray,
    shifted_mean: FloatArray,
    shift: FloatArray,
) -> None:
    """Replace, two-pass, every deviation whose error bound exceeds `_STD_TOLERANCE`.

    A window j into its block is unsafe when `Qmax·factors[j] > deviation·tolerance`, `Qmax`
    being the largest `Q` of the block up to that window (what the stream knows). Most blocks
    are cleared at once: if the block's largest `Q` with the largest factor passes against its
    smallest deviation, every window passes (the roundings are monotone); only the other
    blocks are checked window by window.
    """
    factors = _error_factors(period)
    windows = len(squares)
    starts = np.arange(0, windows, _BLOCK)
    suspect = np.flatnonzero(
        np.maximum.reduceat(squares, starts) * factors[-1]
        > np.minimum.reduceat(deviation, starts) * _STD_TOLERANCE
    )
    if not len(suspect):
        return
    positions = suspect[:, None] * _BLOCK + np.arange(_BLOCK)
    inside = positions < windows
    positions = np.where(inside, positions, windows - 1)
    q_max = np.where(inside, squares[positions], -np.inf)
    np.maximum.accumulate(q_max, axis=1, out=q_max)  # max is exact: any order agrees
    bound = q_max * factors
    unsafe_rows = (bound > deviation[positions] * _STD_TOLERANCE) & inside
    unsafe = positions[unsafe_rows]
    if not len(unsafe):
        return
    mean = shift[unsafe // _BLOCK] + shifted_mean[unsafe]  # the stream's c + A/p
    values = sliding_window_view(x, period)[unsafe] - mean[:, None]
    total = values[:, 0].copy()
    sum_sq = values[:, 0] * values[:, 0]
    for lag in range(1, period):  # oldest first, like the stream
        column = values[:, lag]
        total += column
        sum_sq += column * column
    total /= period
    variance = sum_sq / period - total * total
    deviation[unsafe] = np.sqrt(np.maximum(variance, 0.0))


def last_block_start(length: int, period: int) -> int:
    """Where the block of the last window of `length` values starts, as a value index.

    Every block restarts its sums from its first window's values alone, so a fresh
    `BollingerBands` fed `values[last_block_start(len(values), period):]` ends with exactly the
    bands it would have after all of `values` (0 when there is no complete window yet).
    """
    windows = length - period + 1
    if windows <= 0:
        return 0
    return (windows - 1) // _BLOCK * _BLOCK


def _two_pass_deviation(window: list[float], pos: int, mean: float) -> float:
    """The stream's fallback: `_recompute_unsafe` for one window (ring buffer, oldest at pos)."""
    total = sum_sq = -0.0
    for value in window[pos:] + window[:pos]:
        d = value - mean
        total += d
        sum_sq += d * d
    period = len(window)
    total /= period
    variance = sum_sq / period - total * total
    return math.sqrt(variance) if variance > 0.0 else 0.0


class BollingerBands:
    """Incremental Bollinger Bands; after the same values, equal to `bollinger(...)` exactly.

    `value` is the middle band; `upper`, `middle`, `lower` are NaN until `period` values have
    been seen (`initialized` turns True then). An update is O(1) except at the first window of
    each block and on windows that need the exact fallback (see the module docstring).
    """

    __slots__ = (
        "_count",
        "_factors",
        "_lower",
        "_middle",
        "_pos",
        "_q_max",
        "_shift",
        "_squares",
        "_sum",
        "_upper",
        "_window",
        "_windows",
        "k",
        "period",
    )

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period: int = check_period("period", period)
        self.k: float = check_multiplier("k", k)
        self._factors: list[float] = _error_factors(self.period).tolist()
        self.reset()

    def reset(self) -> None:
        """Forget every value seen; the object is as new."""
        self._window: list[float] = [0.0] * self.period
        self._pos = 0  # ring buffer slot of the oldest value (and of the next write)
        self._count = 0
        self._windows = 0  # complete windows seen
        self._shift = self._sum = self._squares = self._q_max = 0.0
        self._upper = self._middle = self._lower = math.nan

    @property
    def value(self) -> float:
        """The middle band (the SMA), NaN during warm-up."""
        return self._middle

    @property
    def upper(self) -> float:
        """Middle + k·σ, NaN during warm-up."""
        return self._upper

    @property
    def middle(self) -> float:
        """The mean of the window, NaN during warm-up."""
        return self._middle

    @property
    def lower(self) -> float:
        """Middle − k·σ, NaN during warm-up."""
        return self._lower

    @property
    def initialized(self) -> bool:
        """True once `period` values have been seen."""
        return self._windows > 0

    def update(self, x: float) -> None:
        """Feed the next value. Raises `InvalidValue` for NaN, infinities or |x| > 1e100."""
        if not -MAX_ABS <= x <= MAX_ABS:
            raise InvalidValue("x", x, series_rule())
        window, pos, period = self._window, self._pos, self.period
        oldest = window[pos]
        window[pos] = x
        pos += 1
        self._pos = pos = 0 if pos == period else pos
        if self._count < period:
            self._count += 1
            if self._count < period:
                return
        j = self._windows % _BLOCK  # windows since the block started
        self._windows += 1
        if j == 0:
            self._restart_block(x, window, pos)
        else:
            shift = self._shift
            y_new = x - shift
            y_old = oldest - shift
            step = y_new - y_old
            self._sum += step
            squares = self._squares + step * (y_new + y_old)
            self._squares = squares
            if squares > self._q_max:  # noqa: PLR1730 - a compare is cheaper than max()
                self._q_max = squares
        mean_shifted = self._sum / period
        mean = self._shift + mean_shifted
        variance = (self._squares - self._sum * mean_shifted) / period
        deviation = math.sqrt(variance) if variance > 0.0 else 0.0
        if self._q_max * self._factors[j] > deviation * _STD_TOLERANCE:
            deviation = _two_pass_deviation(window, pos, mean)
        deviation *= self.k
        self._middle = mean
        self._upper = mean + deviation
        self._lower = mean - deviation

    def _restart_block(self, newest: float, window: list[float], pos: int) -> None:
        self._shift = newest
        total = squares = -0.0
        for value in window[pos:] + window[:pos]:  # oldest first
            shifted = value - newest
            total += shifted
            squares += shifted * shifted
        self._sum, self._squares, self._q_max = total, squares, squares
