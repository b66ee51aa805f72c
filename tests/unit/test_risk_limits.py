"""Risk limits: sensible defaults, validation that names the field, overrides, disabling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.risk import InstrumentLimits, RiskLimits, Rule
from ordergate.domain.values import InstrumentId

D = Decimal
AAPL = InstrumentId("AAPL")


def test_every_rule_is_on_by_default() -> None:
    limits = RiskLimits()
    assert all(limits.enabled(rule) for rule in Rule)
    assert 40 == limits.max_submit_rate
    assert D(25_000) == limits.pdt_equity_threshold


@pytest.mark.parametrize(
    "field",
    [
        "max_order_quantity",
        "max_order_notional",
        "max_position",
        "max_gross_notional",
        "max_leverage",
        "daily_loss_limit",
        "max_weekly_drawdown",
        "pdt_equity_threshold",
        "price_collar",
    ],
)
def test_negative_decimal_limit_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(InvalidValue, match=f"RiskLimits.{field}"):
        RiskLimits(**{field: D(-1)})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field",
    [
        "max_open_orders",
        "max_submit_rate",
        "max_consecutive_losses",
        "pdt_max_day_trades",
        "pdt_window_business_days",
    ],
)
def test_negative_or_non_int_count_is_refused(field: str) -> None:
    with pytest.raises(InvalidValue, match=f"RiskLimits.{field}"):
        RiskLimits(**{field: -1})  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="must be an int"):
        RiskLimits(**{field: True})  # type: ignore[arg-type]


def test_float_limit_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"RiskLimits.max_leverage"):
        RiskLimits(max_leverage=2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [timedelta(0), 5])
def test_windows_must_be_positive_durations(value: object) -> None:
    with pytest.raises(InvalidValue, match=r"RiskLimits.max_quote_age"):
        RiskLimits(max_quote_age=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match=r"RiskLimits.submit_rate_window"):
        RiskLimits(submit_rate_window=value)  # type: ignore[arg-type]


def test_overrides_fall_back_to_defaults_field_by_field() -> None:
    limits = RiskLimits(overrides={"AAPL": InstrumentLimits(max_order_quantity=D(7))})
    assert D(7) == limits.order_quantity_limit(AAPL)
    assert limits.max_order_notional == limits.order_notional_limit(AAPL)
    assert limits.max_position == limits.position_limit(AAPL)
    other = InstrumentId("MSFT")
    assert limits.max_order_quantity == limits.order_quantity_limit(other)


def test_override_values_are_validated() -> None:
    with pytest.raises(InvalidValue, match=r"InstrumentLimits.max_position"):
        InstrumentLimits(max_position=D(-5))
    with pytest.raises(InvalidValue, match=r"RiskLimits.overrides\[AAPL\]"):
        RiskLimits(overrides={"AAPL": D(5)})  # type: ignore[dict-item]


def test_overrides_cannot_be_changed_after_construction() -> None:
    limits = RiskLimits(overrides={AAPL: InstrumentLimits(max_position=D(1))})
    with pytest.raises(TypeError):
        limits.overrides[AAPL] = InstrumentLimits()  # type: ignore[index]


def test_rules_are_disabled_by_name_or_member() -> None:
    limits = RiskLimits(disabled={"price_collar"}).without(Rule.PATTERN_DAY_TRADER)
    assert not limits.enabled(Rule.PRICE_COLLAR)
    assert not limits.enabled(Rule.PATTERN_DAY_TRADER)
    assert limits.enabled(Rule.POSITION)


def test_unknown_rule_name_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(InvalidValue, match="max_position"):
        RiskLimits(disabled={"no_such_rule"})


def test_limits_are_values() -> None:
    assert RiskLimits(max_position=D(5)) == RiskLimits(max_position=D(5))
    assert hash(RiskLimits()) == hash(RiskLimits())
