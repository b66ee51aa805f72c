"""Session VWAP: Σ(typical price · volume) / Σ volume since the session began.

Typical price is (high + low + close)/3. A session starts at the first bar and whenever the
session key differs from the previous bar's (keys are compared with `!=`; exchange-local dates
as ints are the usual choice). Before any volume has traded in a session the VWAP is NaN.

The batch runs one running sum per session: sessions are grouped by length into padded
(sessions × width) arrays and summed left to right along each row (`numpy.cumsum`, strictly
sequential), which is exactly the order `SessionVwap` adds in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ordergate.domain.errors import InvalidValue
from ordergate.domain.indicators._validation import (
    MAX_ABS,
    FloatArray,
    as_series,
    require_length,
    series_rule,
)

__all__ = ["SessionVwap", "vwap"]


def vwap(high: Any, low: Any, close: Any, volume: Any, session: Any) -> FloatArray:
    """Session VWAP of each bar (NaN while the session has no volume yet).

    All five arguments are 1-D and of equal length; `volume` must be >= 0. Raises
    `InvalidValue` for bad input and `InsufficientDataError` for an empty series.
    """
    h, lo, c = as_series("high", high), as_series("low", low), as_series("close", close)
    v = as_series("volume", volume)
    keys = np.asarray(session)
    if keys.ndim != 1:
        raise InvalidValue("session", session, f"must be 1-D; got shape {keys.shape}")
    for name, arr in (("low", lo), ("close", c), ("volume", v), ("session", keys)):
        if len(arr) != len(h):
            raise InvalidValue(name, len(arr), f"must have the length of high ({len(h)})")
    require_length("VWAP", 1, len(h))
    if v.min() < 0.0:
        bad = int(np.flatnonzero(v < 0.0)[0])
        raise InvalidValue(f"volume[{bad}]", float(v[bad]), "must be >= 0")
    turnover = (h + lo + c) / 3.0 * v  # new arrays: the caller's inputs stay untouched
    traded = v.copy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    _session_cumsum(turnover, starts)
    _session_cumsum(traded, starts)
    out = np.full(len(h), np.nan)
    np.divide(turnover, traded, out=out, where=traded > 0.0)
    return out


def _session_cumsum(values: FloatArray, starts: npt.NDArray[np.intp]) -> None:
    """In place: running sums restarting at each start, added left to right.

    Sessions of similar length share one padded 2-D array (width: the next power of two), so
    the padding never exceeds the data and the loop runs once per width, not per session.
    """
    lengths = np.diff(np.r_[starts, len(values)])
    widths = np.left_shift(1, np.ceil(np.log2(lengths)).astype(np.int64))
    for width in np.unique(widths).tolist():
        chosen = widths == width
        index = starts[chosen][:, None] + np.arange(width)
        inside = np.arange(width) < lengths[chosen][:, None]
        rows = np.where(inside, values[np.where(inside, index, 0)], 0.0)
        np.cumsum(rows, axis=1, out=rows)  # zero padding only follows the data
        values[index[inside]] = rows[inside]


class SessionVwap:
    """Incremental session VWAP; after the same bars, `value` equals `vwap(...)[-1]` exactly.

    `value` is NaN until the current session has traded volume (`initialized` is then True).
    """

    __slots__ = ("_session", "_started", "_turnover", "_value", "_volume")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every bar seen; the next bar starts a session."""
        self._started = False
        self._session: Any = None
        self._turnover = self._volume = 0.0
        self._value = math.nan

    @property
    def value(self) -> float:
        """The VWAP of the current session so far, NaN before it has volume."""
        return self._value

    @property
    def initialized(self) -> bool:
        """True once the current session has traded volume."""
        return self._volume > 0.0

    def update(
        self, high: float, low: float, close: float, volume: float, session_key: Any
    ) -> None:
        """Feed the next bar. Raises `InvalidValue` for non-finite prices or negative volume."""
        for name, price in (("high", high), ("low", low), ("close", close)):
            if not -MAX_ABS <= price <= MAX_ABS:
                raise InvalidValue(name, price, series_rule())
        if not 0.0 <= volume <= MAX_ABS:
            raise InvalidValue("volume", volume, f"must be >= 0 and {series_rule()}")
        volume = float(volume)  # an int volume must accumulate like the batch's float64
        turnover = (high + low + close) / 3.0 * volume
        if not self._started or session_key != self._session:
            # A new session: the sums restart at this bar, like a fresh cumulative sum.
            self._started = True
            self._session = session_key
            self._turnover, self._volume = turnover, volume
        else:
            self._turnover += turnover
            self._volume += volume
        self._value = self._turnover / self._volume if self._volume > 0.0 else math.nan
