"""Input checks shared by the indicator functions and objects.

Every indicator refuses bad input with `InvalidValue` (naming the parameter and the value) before
any arithmetic runs, so a NaN or an infinity can never leak into a moving state.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from ordergate.domain.errors import InsufficientDataError, InvalidValue

__all__ = [
    "MAX_ABS",
    "FloatArray",
    "as_series",
    "check_multiplier",
    "check_period",
    "require_length",
    "series_rule",
]

FloatArray = npt.NDArray[np.float64]

# Real prices and volumes are far below this bound; it keeps every intermediate product finite
# (squares in Bollinger, the block-scaled sums of `_smoothing`, price × volume in VWAP), so a
# finite input can never overflow into inf/NaN halfway through a computation.
MAX_ABS = 1e100

_RULE = f"must be finite with magnitude <= {MAX_ABS:g}"


def series_rule() -> str:
    """The rule every input value obeys, as quoted in `InvalidValue` messages."""
    return _RULE


def as_series(name: str, values: Any) -> FloatArray:
    """Return `values` as a contiguous 1-D float64 array of finite, bounded numbers."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise InvalidValue(name, values, "must be a 1-D array of numbers") from exc
    if arr.dtype.kind not in "fiu":
        raise InvalidValue(name, values, "must be a 1-D array of real numbers")
    if arr.ndim != 1:
        raise InvalidValue(name, values, f"must be 1-D; got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    # Two reductions instead of isfinite+abs: NaN propagates through max/min and fails the test.
    if arr.size and not (-MAX_ABS <= arr.min() and arr.max() <= MAX_ABS):
        bad = int(np.flatnonzero(~(np.abs(arr) <= MAX_ABS))[0])
        raise InvalidValue(f"{name}[{bad}]", float(arr[bad]), _RULE)
    return arr


def check_period(name: str, value: Any) -> int:
    """Return `value` as an int if it is an integer >= 1 (bools refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidValue(name, value, "must be an integer >= 1")
    if value < 1:
        raise InvalidValue(name, value, "must be an integer >= 1")
    return int(value)


def check_multiplier(name: str, value: Any) -> float:
    """Return `value` as a float if it is a finite real number >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue(name, value, "must be a real number >= 0")
    as_float = float(value)
    if not 0.0 <= as_float <= MAX_ABS:
        raise InvalidValue(name, value, f"must be a finite real number >= 0 and <= {MAX_ABS:g}")
    return as_float


def require_length(indicator: str, needed: int, got: int) -> None:
    """Raise `InsufficientDataError` when fewer than `needed` values are available."""
    if got < needed:
        raise InsufficientDataError(indicator, needed, got)
