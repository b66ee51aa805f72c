"""MarketSnapshot: a quote, its indicators and a DataQuality score that says how far to trust it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.indicators import (
    DataQuality,
    IndicatorValues,
    MarketSnapshot,
    assess_quality,
    bollinger,
    compute_snapshot,
    ema,
    rsi,
    vwap,
)
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import InstrumentId

AAPL = InstrumentId("AAPL")
NOW = datetime(2024, 3, 8, 15, 30, tzinfo=UTC)


def quote(**overrides: object) -> Quote:
    fields: dict[str, object] = {
        "instrument_id": AAPL,
        "ts": NOW - timedelta(seconds=2),
        "bid": Decimal("170.10"),
        "ask": Decimal("170.12"),
        "last": Decimal("170.11"),
        "volume": Decimal(1200),
    }
    fields.update(overrides)
    return Quote(**fields)  # type: ignore[arg-type]


def bars(n: int, start: datetime, step: timedelta = timedelta(minutes=1)) -> list[Bar]:
    rng = np.random.default_rng(n)
    closes = (170 + np.cumsum(rng.normal(0, 0.2, n))).round(2)
    out = []
    for i, close in enumerate(closes):
        c = Decimal(str(close))
        out.append(
            Bar(
                instrument_id=AAPL,
                ts=start + i * step,
                open=c,
                high=c + Decimal("0.15"),
                low=c - Decimal("0.10"),
                close=c,
                volume=Decimal(100 + 10 * i),
            )
        )
    return out


@pytest.mark.parametrize(
    ("stale", "missing", "score"),
    [
        (False, (), 1.0),
        (True, (), 0.5),
        (False, ("bid",), 0.9),
        (True, ("bid", "ask"), 0.3),
        (False, ("a", "b", "c", "d", "e"), 0.5),
        (True, ("a", "b", "c", "d", "e"), 0.0),
        (False, tuple("abcdefghijkl"), 0.0),  # floored at 0, never negative
    ],
)
def test_score_is_one_minus_half_if_stale_minus_tenth_per_missing_field(
    stale: bool, missing: tuple[str, ...], score: float
) -> None:
    quality = DataQuality(is_stale=stale, staleness_seconds=1.0, missing_fields=missing)
    assert quality.score == pytest.approx(score, abs=1e-12)
    assert quality.score >= 0.0


def test_data_quality_is_frozen_and_validated() -> None:
    quality = DataQuality(is_stale=False, staleness_seconds=3)
    assert quality.staleness_seconds == 3.0
    with pytest.raises(AttributeError):
        quality.is_stale = True  # type: ignore[misc]
    with pytest.raises(InvalidValue):
        DataQuality(is_stale=False, staleness_seconds=math.nan)
    with pytest.raises(InvalidValue):
        DataQuality(is_stale=False, staleness_seconds=1.0, missing_fields=["bid"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DataQuality(is_stale=1, staleness_seconds=1.0)  # type: ignore[arg-type]


def test_assess_quality_flags_missing_quote_fields_and_staleness() -> None:
    q = quote(bid=None, volume=None, ts=NOW - timedelta(seconds=301))
    quality = assess_quality(q, NOW, staleness_limit_seconds=300)
    assert quality.is_stale
    assert quality.staleness_seconds == 301.0
    assert quality.missing_fields == ("bid", "volume")
    assert quality.score == pytest.approx(0.3)


def test_assess_quality_of_a_fresh_complete_quote_is_perfect() -> None:
    quality = assess_quality(quote(), NOW, 5.0)
    assert not quality.is_stale
    assert quality.staleness_seconds == 2.0
    assert quality.missing_fields == ()
    assert quality.score == 1.0


def test_zero_volume_is_a_value_not_a_missing_field() -> None:
    assert assess_quality(quote(volume=Decimal(0)), NOW).missing_fields == ()


def test_quote_from_the_future_has_negative_staleness_and_is_not_stale() -> None:
    quality = assess_quality(quote(ts=NOW + timedelta(seconds=4)), NOW, 1.0)
    assert quality.staleness_seconds == -4.0
    assert not quality.is_stale


@pytest.mark.parametrize("limit", [-1.0, math.nan, math.inf, "300", True])
def test_bad_staleness_limit_is_refused(limit: object) -> None:
    with pytest.raises(InvalidValue) as err:
        assess_quality(quote(), NOW, limit)  # type: ignore[arg-type]
    assert err.value.field == "staleness_limit_seconds"


def test_naive_now_is_refused() -> None:
    with pytest.raises(InvalidValue):
        assess_quality(quote(), datetime(2024, 3, 8, 15, 30))
    with pytest.raises(InvalidValue):
        compute_snapshot(quote(), [], datetime(2024, 3, 8, 15, 30))


def test_snapshot_indicators_are_the_last_values_of_the_batch_functions() -> None:
    history = bars(40, datetime(2024, 3, 8, 14, 40, tzinfo=UTC))  # 09:40 New York
    snapshot = compute_snapshot(quote(), history, NOW)
    close = np.array([float(b.close) for b in history])
    high = np.array([float(b.high) for b in history])
    low = np.array([float(b.low) for b in history])
    volume = np.array([float(b.volume) for b in history])
    upper, middle, lower = bollinger(close, 20, 2.0)
    assert snapshot.indicators == IndicatorValues(
        ema_fast=float(ema(close, 8)[-1]),
        ema_slow=float(ema(close, 21)[-1]),
        rsi=float(rsi(close, 14)[-1]),
        vwap=float(vwap(high, low, close, volume, np.zeros(40))[-1]),
        bb_upper=float(upper[-1]),
        bb_middle=float(middle[-1]),
        bb_lower=float(lower[-1]),
    )
    assert snapshot.quality.missing_fields == ()
    assert snapshot.quality.score == 1.0
    assert snapshot.ts == NOW
    assert snapshot.quote == quote()


def test_indicators_without_enough_bars_are_none_and_listed_as_missing() -> None:
    snapshot = compute_snapshot(quote(last=None), bars(10, NOW - timedelta(minutes=10)), NOW)
    values = snapshot.indicators
    assert values.ema_fast is not None
    assert values.vwap is not None
    assert values.ema_slow is values.rsi is values.bb_upper is None
    assert snapshot.quality.missing_fields == (
        "last",
        "ema_slow",
        "rsi",
        "bb_upper",
        "bb_middle",
        "bb_lower",
    )
    assert snapshot.quality.score == pytest.approx(0.4)


def test_no_bars_leaves_every_indicator_missing() -> None:
    snapshot = compute_snapshot(quote(), [], NOW)
    assert snapshot.indicators == IndicatorValues()
    assert len(snapshot.quality.missing_fields) == 7
    assert snapshot.quality.score == pytest.approx(0.3)


def test_vwap_session_is_the_new_york_date_not_the_utc_date() -> None:
    # 03:30 and 04:30 UTC on Mar 8 are 22:30 and 23:30 on Mar 7 in New York (EST): one session
    # with the bar of Mar 7 20:30 UTC, while 05:30 UTC (00:30 Mar 8 New York) starts a new one.
    times = [
        datetime(2024, 3, 7, 20, 30, tzinfo=UTC),
        datetime(2024, 3, 8, 3, 30, tzinfo=UTC),
        datetime(2024, 3, 8, 4, 30, tzinfo=UTC),
        datetime(2024, 3, 8, 5, 30, tzinfo=UTC),
    ]
    history = [
        Bar(
            instrument_id=AAPL,
            ts=ts,
            open=Decimal(p),
            high=Decimal(p),
            low=Decimal(p),
            close=Decimal(p),
            volume=Decimal(1),
        )
        for ts, p in zip(times, ("10", "20", "30", "40"), strict=True)
    ]
    assert compute_snapshot(quote(), history[:3], NOW).indicators.vwap == 20.0
    assert compute_snapshot(quote(), history, NOW).indicators.vwap == 40.0


def test_snapshot_is_stale_when_the_quote_is_old() -> None:
    snapshot = compute_snapshot(
        quote(ts=NOW - timedelta(minutes=10)),
        bars(30, NOW - timedelta(minutes=30)),
        NOW,
        staleness_limit_seconds=60,
    )
    assert snapshot.quality.is_stale
    assert snapshot.quality.score == 0.5


def test_custom_periods_are_used() -> None:
    history = bars(12, NOW - timedelta(minutes=12))
    snapshot = compute_snapshot(
        quote(), history, NOW, ema_slow_period=12, rsi_period=3, bollinger_period=5, bollinger_k=1.0
    )
    close = np.array([float(b.close) for b in history])
    assert snapshot.indicators.ema_slow == float(ema(close, 12)[-1])
    assert snapshot.indicators.rsi == float(rsi(close, 3)[-1])
    assert snapshot.indicators.bb_upper == float(bollinger(close, 5, 1.0).upper[-1])


def test_bars_of_another_instrument_are_refused() -> None:
    history = bars(3, NOW - timedelta(minutes=3))
    other = Bar(
        instrument_id=InstrumentId("MSFT"),
        ts=NOW,
        open=Decimal(1),
        high=Decimal(1),
        low=Decimal(1),
        close=Decimal(1),
        volume=Decimal(1),
    )
    with pytest.raises(InvalidValue) as err:
        compute_snapshot(quote(), [*history, other], NOW)
    assert err.value.field == "bars[3].instrument_id"


def test_bars_out_of_time_order_are_refused() -> None:
    history = bars(3, NOW - timedelta(minutes=3))
    with pytest.raises(InvalidValue) as err:
        compute_snapshot(quote(), [history[0], history[2], history[1]], NOW)
    assert err.value.field == "bars[2].ts"


def test_a_bar_that_is_not_a_bar_is_refused() -> None:
    with pytest.raises(InvalidValue) as err:
        compute_snapshot(quote(), [object()], NOW)  # type: ignore[list-item]
    assert err.value.field == "bars[0]"


def test_bad_period_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValue) as err:
        compute_snapshot(quote(), [], NOW, rsi_period=0)
    assert err.value.field == "rsi_period"


def test_indicator_values_refuse_non_finite_floats() -> None:
    with pytest.raises(InvalidValue):
        IndicatorValues(rsi=math.nan)
    assert IndicatorValues(rsi=50).rsi == 50.0


def test_market_snapshot_requires_its_parts() -> None:
    quality = DataQuality(is_stale=False, staleness_seconds=0.0)
    with pytest.raises(TypeError):
        MarketSnapshot(quote=quote(), indicators=None, quality=quality, ts=NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        MarketSnapshot(
            quote=quote(), indicators=IndicatorValues(), quality=quality, ts=datetime(2024, 1, 1)
        )
