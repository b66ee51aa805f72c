"""The indicators agree with TA-Lib (and VWAP with a direct computation) on real AAPL daily bars."""

from __future__ import annotations

import csv
import gzip
import math
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from ordergate.domain.indicators import bollinger, ema, rsi, vwap

talib = pytest.importorskip("talib", reason="TA-Lib is the reference implementation")

# The real bars ship with the package (the simulator's data, from ../shared/data/stocks.csv.gz).
STOCKS = Path(__file__).resolve().parents[2] / "adapters" / "sim" / "stocks_aapl_msft_ibm.csv.gz"
ATOL = 1e-9


def load_aapl() -> dict[str, np.ndarray]:
    columns: dict[str, list[float]] = {"high": [], "low": [], "close": [], "volume": []}
    sessions: list[int] = []
    with gzip.open(STOCKS, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Ticker"] != "AAPL":
                continue
            for name, values in columns.items():
                values.append(float(row[name.capitalize()]))
            sessions.append(date.fromisoformat(row["Date"]).toordinal())
    data = {name: np.array(values) for name, values in columns.items()}
    data["session"] = np.array(sessions)
    return data


@pytest.fixture(scope="module")
def aapl() -> dict[str, np.ndarray]:
    return load_aapl()


def test_aapl_file_holds_the_expected_series(aapl: dict[str, np.ndarray]) -> None:
    assert len(aapl["close"]) == 3270
    assert aapl["close"][0] == 130.31
    assert np.all(np.diff(aapl["session"]) > 0)


@pytest.mark.parametrize("period", [8, 21])
def test_ema_matches_talib_on_aapl(aapl: dict[str, np.ndarray], period: int) -> None:
    close = aapl["close"]
    np.testing.assert_allclose(ema(close, period), talib.EMA(close, period), rtol=0, atol=ATOL)


def test_rsi_matches_talib_wilder_on_aapl(aapl: dict[str, np.ndarray]) -> None:
    close = aapl["close"]
    np.testing.assert_allclose(rsi(close, 14), talib.RSI(close, 14), rtol=0, atol=ATOL)


def test_bollinger_matches_talib_bbands_sma_on_aapl(aapl: dict[str, np.ndarray]) -> None:
    close = aapl["close"]
    expected = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    for ours, theirs in zip(bollinger(close, 20, 2.0), expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=ATOL)


def test_bollinger_deviation_is_the_exact_population_deviation_on_aapl(
    aapl: dict[str, np.ndarray],
) -> None:
    close = aapl["close"]
    bands = bollinger(close, 20, 1.0)
    for end in range(19, len(close), 97):  # a spread of windows, exact rational arithmetic
        window = [Fraction(v) for v in close[end - 19 : end + 1]]
        mean = sum(window) / 20
        deviation = math.sqrt(sum((v - mean) ** 2 for v in window) / 20)
        assert abs(bands.upper[end] - bands.middle[end] - deviation) < 1e-10
        assert abs(bands.middle[end] - float(mean)) < 1e-10


def test_vwap_matches_direct_computation_per_session_prefix_on_aapl(
    aapl: dict[str, np.ndarray],
) -> None:
    # Daily bars are one session each; group them by calendar month to exercise real prefixes.
    months = np.array([date.fromordinal(int(d)).strftime("%Y%m") for d in aapl["session"]])
    got = vwap(aapl["high"], aapl["low"], aapl["close"], aapl["volume"], months.astype(int))
    typical = (aapl["high"] + aapl["low"] + aapl["close"]) / 3
    expected = np.empty_like(typical)
    for month in np.unique(months):
        rows = np.flatnonzero(months == month)
        turnover = np.cumsum(
            [
                Fraction(t) * Fraction(v)
                for t, v in zip(typical[rows], aapl["volume"][rows], strict=True)
            ]
        )
        volume = np.cumsum([Fraction(v) for v in aapl["volume"][rows]])
        expected[rows] = [float(t / v) for t, v in zip(turnover, volume, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


def test_vwap_of_one_bar_sessions_is_the_typical_price(aapl: dict[str, np.ndarray]) -> None:
    got = vwap(aapl["high"], aapl["low"], aapl["close"], aapl["volume"], aapl["session"])
    np.testing.assert_allclose(got, (aapl["high"] + aapl["low"] + aapl["close"]) / 3, rtol=1e-15)
