"""Indicator math (EMA, RSI, VWAP, Bollinger): batch functions and incremental objects that agree.

Each indicator has a batch function over a 1-D array (`ema`, `rsi`, `bollinger`, `vwap`; NaN
during warm-up, TA-Lib's conventions) and an incremental object (`Ema`, `Rsi`, `BollingerBands`,
`SessionVwap`: `update(...)`, `value`, `initialized`, `reset()`) that performs the same
floating-point operations in the same order, so after the same inputs both give identical
floats. `compute_snapshot` packages a quote, the latest indicator values and their `DataQuality`.

This package is pure: numpy and the standard library, no clock, no I/O.
"""

from ordergate.domain.indicators.bollinger import Bands, BollingerBands, bollinger
from ordergate.domain.indicators.ema import Ema, ema
from ordergate.domain.indicators.rsi import Rsi, RsiMethod, rsi
from ordergate.domain.indicators.snapshot import (
    DataQuality,
    IndicatorValues,
    MarketSnapshot,
    assess_quality,
    compute_snapshot,
)
from ordergate.domain.indicators.vwap import SessionVwap, vwap

__all__ = [
    "Bands",
    "BollingerBands",
    "DataQuality",
    "Ema",
    "IndicatorValues",
    "MarketSnapshot",
    "Rsi",
    "RsiMethod",
    "SessionVwap",
    "assess_quality",
    "bollinger",
    "compute_snapshot",
    "ema",
    "rsi",
    "vwap",
]
