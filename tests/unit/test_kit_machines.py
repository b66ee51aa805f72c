"""The kit's risk machines find a planted inconsistency in a configuration, and only then.

`run_risk_verification` is what `ordergate verify-risk` runs: a limit that a switched-off rule no
longer enforces must be reported with a small counterexample; consistent limits must pass.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordergate.application.testing.machines import (
    INVARIANTS,
    machine_setup,
    risk_machine,
    run_risk_verification,
)
from ordergate.domain.instruments import Stock
from ordergate.domain.risk import InstrumentLimits, RiskLimits, Rule
from ordergate.domain.values import InstrumentId

# One order may be for 1,000, the position limit says 500, and its rule is switched off.
WRONG = RiskLimits(
    max_order_quantity=Decimal(1_000), max_position=Decimal(500), disabled={Rule.POSITION}
)


def test_a_per_order_limit_above_a_disabled_position_limit_is_found_with_one_order() -> None:
    report = run_risk_verification(WRONG, max_examples=200)

    assert not report.ok
    assert "position_within_limit" == report.invariant
    assert "exceeds max_position 500" in report.message
    orders = [step for step in report.steps if "→ approved" in step]
    assert 1 == len(orders)
    assert "BUY 501 " in orders[0] or "SELL 501 " in orders[0]
    assert len(report.steps) <= 3  # open the account, one order, the broken invariant
    assert report.steps[-1].startswith("✗ position_within_limit")
    assert report.reproduction  # the same program as Hypothesis printed it
    assert "rules switched off: max_position" in report.setup


def test_the_default_limits_hold_every_invariant() -> None:
    report = run_risk_verification(RiskLimits(), max_examples=60, steps=30)

    assert report.ok, (report.invariant, report.message, report.steps)
    assert report.examples >= 60
    assert report.invariant is None
    assert "" == report.description


def test_the_same_seed_gives_the_same_counterexample() -> None:
    first = run_risk_verification(WRONG, max_examples=50, seed=3)
    second = run_risk_verification(WRONG, max_examples=50, seed=3)

    assert first == second
    assert 3 == first.seed


@pytest.mark.parametrize(
    ("limits", "invariant"),
    [
        (RiskLimits(disabled={Rule.ORDER_QUANTITY}), "order_within_size_limits"),
        (RiskLimits(max_open_orders=2, disabled={Rule.OPEN_ORDERS}), "open_orders_within_limit"),
        (RiskLimits(disabled={Rule.STALENESS}), "no_new_risk_on_stale_quote"),
    ],
    ids=["order-quantity", "open-orders", "staleness"],
)
def test_each_switched_off_rule_whose_limit_still_binds_is_found(
    limits: RiskLimits, invariant: str
) -> None:
    report = run_risk_verification(limits, max_examples=200, seed=1)

    assert invariant == report.invariant, (report.invariant, report.steps)
    assert len(report.steps) <= 6
    assert report.description == INVARIANTS[invariant]


def test_progress_is_told_after_every_run_and_when_a_failure_is_seen() -> None:
    seen: list[tuple[int, bool]] = []

    report = run_risk_verification(
        WRONG, max_examples=50, progress=lambda n, f: seen.append((n, f))
    )

    assert [n for n, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][1]
    first_failing = next(n for n, failing in seen if failing)
    assert first_failing == report.examples


def test_start_prices_put_a_full_size_order_at_the_notional_limit() -> None:
    setup = machine_setup(RiskLimits())

    first, price = setup.instruments[0], setup.prices[0]
    notional = RiskLimits().max_order_quantity * price * first.multiplier
    assert RiskLimits().max_order_notional == notional
    assert 2 * 1_000 == setup.max_quantity


def test_the_account_opens_below_at_and_above_where_gross_and_leverage_caps_meet() -> None:
    limits = RiskLimits(max_gross_notional=Decimal(100_000), max_leverage=Decimal(2))

    setup = machine_setup(limits, start_cash=Decimal(30_000))

    expected = (Decimal(30_000), Decimal(50_000), Decimal(25_000), Decimal(100_000))
    assert expected == setup.cash_choices


def test_every_instrument_override_gets_its_own_stock() -> None:
    limits = RiskLimits(overrides={"IBM": InstrumentLimits(max_position=Decimal(10))})

    setup = machine_setup(limits)

    assert InstrumentId("IBM") in [instrument.id for instrument in setup.instruments]
    assert "max_position 10" in "\n".join(setup.describe())


def test_overrides_of_known_instruments_option_ids_and_non_symbols_add_no_stock() -> None:
    limits = RiskLimits(
        overrides={
            "AAPL": InstrumentLimits(max_position=Decimal(7)),
            "SPY   240119C00470000": InstrumentLimits(max_position=Decimal(3)),
            "ibm": InstrumentLimits(max_position=Decimal(5)),
        }
    )

    setup = machine_setup(limits)

    assert 3 == len(setup.instruments)  # AAPL, MSFT and the AAPL option
    assert Decimal(7) == limits.position_limit(setup.instruments[0].id)


def test_zero_size_limits_still_give_every_instrument_a_price_on_its_tick() -> None:
    limits = RiskLimits(max_order_quantity=Decimal(0), max_order_notional=Decimal(0))

    setup = machine_setup(limits)

    assert all(price > 0 for price in setup.prices)
    assert all(
        price % instrument.tick_size == 0
        for instrument, price in zip(setup.instruments, setup.prices, strict=True)
    )
    assert 2 == setup.max_quantity


def test_a_machine_class_carries_its_setup_and_name() -> None:
    machine = risk_machine(RiskLimits(), instruments=[Stock("SPY")], name="SpyMachine")

    assert "SpyMachine" == machine.__name__
    assert (Stock("SPY"),) == machine.setup.instruments
    assert "SPY @" in (machine.__doc__ or "")
