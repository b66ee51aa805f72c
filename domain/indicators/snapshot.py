"""Market snapshot: a quote, the indicators strategies read, and how far to trust them.

`compute_snapshot` is pure: the caller passes the quote, the bars and `now` (the domain never
reads a clock). Indicators come from the bars' closes (EMA fast/slow, RSI, Bollinger) and from
their high/low/close/volume (session VWAP, the session being the bar's exchange-local date in
America/New_York). An indicator without enough bars is None and is listed in `missing_fields`,
as is any of bid/ask/last/volume missing from the quote; `DataQuality.score` is
1 − 0.5·stale − 0.1·(number of missing fields), floored at 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import numpy as np

from ordergate.domain.errors import InsufficientDataError, InvalidValue
from ordergate.domain.indicators._validation import FloatArray, check_multiplier, check_period
from ordergate.domain.indicators.bollinger import (
    BollingerBands,
    bollinger,
    last_block_start,
)
from ordergate.domain.indicators.ema import Ema, ema
from ordergate.domain.indicators.rsi import Rsi, rsi
from ordergate.domain.indicators.vwap import SessionVwap, vwap
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import check_utc, utc_field

__all__ = [
    "DataQuality",
    "IndicatorValues",
    "MarketSnapshot",
    "assess_quality",
    "compute_snapshot",
]

EXCHANGE_TIME_ZONE = "America/New_York"
QUOTE_FIELDS = ("bid", "ask", "last", "volume")
DEFAULT_STALENESS_LIMIT_SECONDS = 300.0
STREAM_MAX_BARS = 1024
"""Up to this many bars, `compute_snapshot` feeds the incremental indicators (same floats as the
batch functions); above it the batch functions' vector passes are cheaper."""


def _finite_float(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
        name = f"{type(inst).__name__}.{attribute.name}"
        raise InvalidValue(name, value, "must be a finite float")


def _optional_finite_float(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _finite_float(inst, attribute, value)


def _field_names(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        raise InvalidValue(
            f"{type(inst).__name__}.{attribute.name}", value, "must be a tuple of field names"
        )


def _to_float(value: Any) -> Any:
    """Real numbers become floats; anything else is left for the validator to refuse."""
    if isinstance(value, bool):
        return value  # a bool is an int to Python, but never a staleness
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def _optional_indicator() -> Any:
    return attrs.field(default=None, converter=_to_float, validator=_optional_finite_float)


@attrs.frozen
class DataQuality:
    """How trustworthy a snapshot is: staleness of the quote and the fields that are missing."""

    is_stale: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    staleness_seconds: float = attrs.field(converter=_to_float, validator=_finite_float)
    missing_fields: tuple[str, ...] = attrs.field(default=(), validator=_field_names)

    @property
    def score(self) -> float:
        """1 − 0.5·stale − 0.1·len(missing_fields), floored at 0: 1.0 is perfect, 0 unusable."""
        return max(0.0, 1.0 - 0.5 * self.is_stale - 0.1 * len(self.missing_fields))


@attrs.frozen
class IndicatorValues:
    """The latest indicator values; None where there were not enough bars."""

    ema_fast: float | None = _optional_indicator()
    ema_slow: float | None = _optional_indicator()
    rsi: float | None = _optional_indicator()
    vwap: float | None = _optional_indicator()
    bb_upper: float | None = _optional_indicator()
    bb_middle: float | None = _optional_indicator()
    bb_lower: float | None = _optional_indicator()

    def missing(self) -> tuple[str, ...]:
        """Names of the indicators that are None, in field order."""
        return tuple(a.name for a in attrs.fields(IndicatorValues) if getattr(self, a.name) is None)


@attrs.frozen
class MarketSnapshot:
    """A quote, the indicators computed from recent bars, their quality, and when it was taken."""

    quote: Quote = attrs.field(validator=attrs.validators.instance_of(Quote))
    indicators: IndicatorValues = attrs.field(
        validator=attrs.validators.instance_of(IndicatorValues)
    )
    quality: DataQuality = attrs.field(validator=attrs.validators.instance_of(DataQuality))
    ts: datetime = utc_field()


def _check_limit(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue("staleness_limit_seconds", value, "must be a real number >= 0")
    limit = float(value)
    if not 0.0 <= limit < math.inf:
        raise InvalidValue("staleness_limit_seconds", value, "must be a finite number >= 0")
    return limit


def assess_quality(
    quote: Quote,
    now: datetime,
    staleness_limit_seconds: float = DEFAULT_STALENESS_LIMIT_SECONDS,
    *,
    extra_missing: Sequence[str] = (),
) -> DataQuality:
    """Staleness (`now − quote.ts`, stale when above the limit) and the quote's missing fields.

    A missing field is one of bid/ask/last/volume that is None (a zero volume is a real value).
    `extra_missing` names further missing fields (the snapshot's absent indicators).
    A quote time after `now` gives a negative staleness (clock skew), which is not stale.
    """
    check_utc("now", now)
    limit = _check_limit(staleness_limit_seconds)
    staleness = (now - quote.ts).total_seconds()
    missing = tuple(name for name in QUOTE_FIELDS if getattr(quote, name) is None)
    return DataQuality(
        is_stale=staleness > limit,
        staleness_seconds=staleness,
        missing_fields=missing + tuple(extra_missing),
    )


def compute_snapshot(
    quote: Quote,
    bars: Sequence[Bar],
    now: datetime,
    *,
    staleness_limit_seconds: float = DEFAULT_STALENESS_LIMIT_SECONDS,
    ema_fast_period: int = 8,
    ema_slow_period: int = 21,
    rsi_period: int = 14,
    bollinger_period: int = 20,
    bollinger_k: float = 2.0,
) -> MarketSnapshot:
    """Package `quote` with the indicators of `bars` (oldest first) as of `now`.

    Raises `InvalidValue` when a bar belongs to another instrument than the quote, when the
    bars are not in strictly increasing time order, or for a bad period or limit.
    """
    check_utc("now", now)
    periods = {
        name: check_period(name, value)
        for name, value in (
            ("ema_fast_period", ema_fast_period),
            ("ema_slow_period", ema_slow_period),
            ("rsi_period", rsi_period),
            ("bollinger_period", bollinger_period),
        )
    }
    k = check_multiplier("bollinger_k", bollinger_k)
    _check_bars(quote, bars)
    if len(bars) <= STREAM_MAX_BARS:
        indicators = _streamed(bars, periods, k)
    else:
        indicators = _batched(bars, periods, k)
    quality = assess_quality(
        quote, now, staleness_limit_seconds, extra_missing=indicators.missing()
    )
    return MarketSnapshot(quote=quote, indicators=indicators, quality=quality, ts=now)


def _batched(bars: Sequence[Bar], periods: dict[str, int], k: float) -> IndicatorValues:
    """The indicators from the batch functions over the whole series."""
    close = np.array([float(bar.close) for bar in bars], dtype=np.float64)
    upper, middle, lower = _last_bands(close, periods["bollinger_period"], k)
    return IndicatorValues(
        ema_fast=_last(lambda: ema(close, periods["ema_fast_period"])),
        ema_slow=_last(lambda: ema(close, periods["ema_slow_period"])),
        rsi=_last(lambda: rsi(close, periods["rsi_period"])),
        vwap=_last(lambda: _session_vwap(bars, close)),
        bb_upper=upper,
        bb_middle=middle,
        bb_lower=lower,
    )


def _streamed(bars: Sequence[Bar], periods: dict[str, int], k: float) -> IndicatorValues:
    """The same values as `_batched`, from the incremental objects, one pass over the bars.

    Each incremental indicator returns exactly the batch function's floats after the same
    inputs (tests/property/test_indicators_incremental.py holds them to bit equality), so this
    is the batch result computed without numpy's per-call overhead, which dominates a window of
    a few hundred bars. The Bollinger sums restart at every block of windows and the session
    VWAP at every session, so each is fed only from the start of its last block or session.
    """
    fast, slow = Ema(periods["ema_fast_period"]), Ema(periods["ema_slow_period"])
    strength = Rsi(periods["rsi_period"])
    bands = BollingerBands(periods["bollinger_period"], k)
    closes = [float(bar.close) for bar in bars]
    for feed in (fast.update, slow.update, strength.update):
        for close in closes:
            feed(close)
    feed = bands.update
    for close in closes[last_block_start(len(closes), bands.period) :]:
        feed(close)
    average = SessionVwap()
    for bar in _last_session(bars):
        average.update(
            float(bar.high), float(bar.low), float(bar.close), float(bar.volume), None
        )
    return IndicatorValues(
        ema_fast=_known(fast.value),
        ema_slow=_known(slow.value),
        rsi=_known(strength.value),
        vwap=_known(average.value),
        bb_upper=_known(bands.upper),
        bb_middle=_known(bands.middle),
        bb_lower=_known(bands.lower),
    )


def _known(value: float) -> float | None:
    return None if math.isnan(value) else value


def _last_session(bars: Sequence[Bar]) -> Sequence[Bar]:
    """The trailing bars that share the last bar's session (exchange-local date)."""
    if not bars:
        return bars
    zone = ZoneInfo(EXCHANGE_TIME_ZONE)
    session = bars[-1].ts.astimezone(zone).date()
    start = len(bars) - 1
    while start and bars[start - 1].ts.astimezone(zone).date() == session:
        start -= 1
    return bars[start:]


def _check_bars(quote: Quote, bars: Sequence[Bar]) -> None:
    for index, bar in enumerate(bars):
        if not isinstance(bar, Bar):
            raise InvalidValue(f"bars[{index}]", bar, "must be a Bar")
        if bar.instrument_id != quote.instrument_id:
            raise InvalidValue(
                f"bars[{index}].instrument_id",
                bar.instrument_id,
                f"must be the quote's instrument {quote.instrument_id}",
            )
        if index and bar.ts <= bars[index - 1].ts:
            raise InvalidValue(f"bars[{index}].ts", bar.ts, "must be after the previous bar's ts")


def _last(compute: Callable[[], FloatArray]) -> float | None:
    """The last value of an indicator series, or None when it has no value there."""
    try:
        series: FloatArray = compute()
    except InsufficientDataError:
        return None
    value = float(series[-1])
    return None if math.isnan(value) else value


def _last_bands(close: FloatArray, period: int, k: float) -> tuple[float | None, ...]:
    try:
        bands = bollinger(close, period, k)
    except InsufficientDataError:
        return (None, None, None)
    return tuple(float(band[-1]) for band in bands)


def _session_vwap(bars: Sequence[Bar], close: FloatArray) -> FloatArray:
    zone = ZoneInfo(EXCHANGE_TIME_ZONE)
    sessions = np.array([bar.ts.astimezone(zone).date().toordinal() for bar in bars])
    return vwap(
        np.array([float(bar.high) for bar in bars], dtype=np.float64),
        np.array([float(bar.low) for bar in bars], dtype=np.float64),
        close,
        np.array([float(bar.volume) for bar in bars], dtype=np.float64),
        sessions,
    )
