"""Sizing: fixed-fraction and fractional Kelly, rounded down and capped by the risk limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.risk import InstrumentLimits, RiskLimits, Rule
from ordergate.domain.sizing import (
    cap_quantity,
    fixed_fraction_size,
    kelly_fraction,
    kelly_size,
    round_down,
)

D = Decimal
AAPL = Stock("AAPL")
LOTS = Stock("LOTS", size_increment=D(100))
CALL = OptionContract("AAPL", date(2024, 1, 19), D(150), OptionRight.CALL)


def test_fixed_fraction_risks_the_fraction_between_entry_and_stop() -> None:
    # 1% of 100,000 = 1,000 at risk; 2.00 per share to the stop → 500 shares
    size = fixed_fraction_size(
        equity=D(100_000),
        risk_fraction=D("0.01"),
        entry_price=D(50),
        stop_price=D(48),
        instrument=AAPL,
    )
    assert D(500) == size


def test_fixed_fraction_counts_the_option_multiplier_and_rounds_down() -> None:
    # 1,000 at risk; 0.70 × 100 per contract to the stop → 14.28… → 14
    size = fixed_fraction_size(
        equity=D(100_000),
        risk_fraction=D("0.01"),
        entry_price=D("2.00"),
        stop_price=D("1.30"),
        instrument=CALL,
    )
    assert D(14) == size


def test_fixed_fraction_rounds_down_to_the_size_increment() -> None:
    size = fixed_fraction_size(
        equity=D(100_000),
        risk_fraction=D("0.01"),
        entry_price=D(10),
        stop_price=D(9),
        instrument=LOTS,
    )
    assert D(1000) == size
    small = fixed_fraction_size(
        equity=D(1_000),
        risk_fraction=D("0.05"),
        entry_price=D(10),
        stop_price=D(9),
        instrument=LOTS,
    )
    assert D(0) == small  # 50 shares is less than one lot


@pytest.mark.parametrize(("equity", "stop"), [(D(0), D(9)), (D(-5), D(9)), (D(1000), D(10))])
def test_fixed_fraction_gives_nothing_without_equity_or_stop_distance(
    equity: Decimal, stop: Decimal
) -> None:
    size = fixed_fraction_size(
        equity=equity,
        risk_fraction=D("0.01"),
        entry_price=D(10),
        stop_price=stop,
        instrument=AAPL,
    )
    assert D(0) == size


def test_sizes_are_capped_by_max_order_quantity_and_notional() -> None:
    limits = RiskLimits(max_order_quantity=D(300), max_order_notional=D(1_000_000))
    kwargs = {
        "equity": D(100_000),
        "risk_fraction": D("0.01"),
        "entry_price": D(50),
        "stop_price": D(48),
        "instrument": AAPL,
    }
    assert D(300) == fixed_fraction_size(**kwargs, limits=limits)  # type: ignore[arg-type]
    by_notional = RiskLimits(max_order_notional=D(12_345))
    assert D(246) == fixed_fraction_size(**kwargs, limits=by_notional)  # type: ignore[arg-type]
    override = RiskLimits(overrides={AAPL.id: InstrumentLimits(max_order_quantity=D(7))})
    assert D(7) == fixed_fraction_size(**kwargs, limits=override)  # type: ignore[arg-type]


def test_disabled_size_rules_do_not_cap() -> None:
    limits = RiskLimits(max_order_quantity=D(1), max_order_notional=D(1)).without(
        Rule.ORDER_QUANTITY, Rule.ORDER_NOTIONAL
    )
    assert D(500) == cap_quantity(D(500), D(50), AAPL, limits)


def test_kelly_fraction() -> None:
    # p = 0.6, b = 2 → f* = 0.6 − 0.4 / 2 = 0.4; half Kelly 0.2; cap 0.25
    assert D("0.2") == kelly_fraction(D("0.6"), D(2), fraction=D("0.5"), cap=D("0.25"))
    assert D("0.1") == kelly_fraction(D("0.6"), D(2), fraction=D("0.5"), cap=D("0.1"))


@pytest.mark.parametrize(("p", "b"), [(D("0.5"), D(1)), (D("0.3"), D(1)), (D(0), D(5))])
def test_kelly_without_an_edge_is_zero(p: Decimal, b: Decimal) -> None:
    assert D(0) == kelly_fraction(p, b)


def test_kelly_size_commits_the_fraction_of_equity() -> None:
    # f = 0.2 of 100,000 = 20,000 at 50 → 400 shares
    size = kelly_size(
        equity=D(100_000),
        win_probability=D("0.6"),
        payoff_ratio=D(2),
        price=D(50),
        instrument=AAPL,
        fraction=D("0.5"),
        cap=D("0.25"),
    )
    assert D(400) == size
    capped = kelly_size(
        equity=D(100_000),
        win_probability=D("0.6"),
        payoff_ratio=D(2),
        price=D(50),
        instrument=AAPL,
        limits=RiskLimits(max_order_notional=D(10_000)),
    )
    assert D(200) == capped


def test_kelly_size_is_zero_without_equity_or_edge() -> None:
    common = {"payoff_ratio": D(2), "price": D(3), "instrument": CALL}
    assert D(0) == kelly_size(equity=D(0), win_probability=D("0.9"), **common)  # type: ignore[arg-type]
    assert D(0) == kelly_size(equity=D(10**6), win_probability=D("0.1"), **common)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"win_probability": D("1.1")}, "win_probability"),
        ({"payoff_ratio": D(0)}, "payoff_ratio"),
        ({"fraction": D(-1)}, "fraction"),
        ({"cap": 0.5}, "cap"),
    ],
)
def test_kelly_inputs_are_validated(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"win_probability": D("0.6"), "payoff_ratio": D(2)}
    args.update(kwargs)
    with pytest.raises(InvalidValue, match=field):
        kelly_fraction(**args)  # type: ignore[arg-type]


def test_fixed_fraction_inputs_are_validated() -> None:
    with pytest.raises(InvalidValue, match="risk_fraction"):
        fixed_fraction_size(
            equity=D(1),
            risk_fraction=D(2),
            entry_price=D(1),
            stop_price=D(2),
            instrument=AAPL,
        )
    with pytest.raises(InvalidValue, match="stop_price"):
        fixed_fraction_size(
            equity=D(1),
            risk_fraction=D("0.1"),
            entry_price=D(1),
            stop_price=D(0),
            instrument=AAPL,
        )


def test_round_down() -> None:
    assert D("1.5") == round_down(D("1.79"), D("0.5"))
    assert D(0) == round_down(D(-3), D(1))
    with pytest.raises(InvalidValue, match="increment"):
        round_down(D(1), D(0))
