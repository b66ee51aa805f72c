"""Partial fills, latency, slippage, commissions and IB-like rejections in the sim engine."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.sim.costs import FillModel, PerContractCommission, PerShareCommission
from ordergate.adapters.sim.scenario import Scenario
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderEventKind, OrderType
from ordergate.domain.orders.events import OrderLifecycleEvent
from ordergate.domain.values import Side

BUY, SELL = Side.BUY, Side.SELL
K = OrderEventKind


def reasons(sim: Scenario) -> list[str]:
    return [
        e.reason for e in sim.events if isinstance(e, OrderLifecycleEvent) and e.kind is K.REJECTED
    ]


def test_participation_caps_each_bar_and_the_rest_fills_later() -> None:
    sim = Scenario(fill_model=FillModel(participation=Decimal("0.1")))
    order = sim.request(BUY, 250, OrderType.MARKET)
    sim.submit(order)
    sim.bar(100, 101, 99, 100, volume=1000)
    sim.bar(100, 101, 99, 100, volume=1000)
    sim.bar(101, 101, 99, 100, volume=1000)
    assert [Decimal(100), Decimal(100), Decimal(50)] == [f.quantity for f in sim.fills(order)]
    assert [Decimal(100), Decimal(100), Decimal(101)] == sim.fill_prices(order)


def test_participation_is_shared_by_the_orders_of_an_instrument_in_priority_order() -> None:
    sim = Scenario(fill_model=FillModel(participation=Decimal("0.1")))
    first = sim.request(BUY, 80, OrderType.MARKET)
    second = sim.request(BUY, 80, OrderType.MARKET)
    sim.submit(first)
    sim.submit(second)
    sim.bar(100, 101, 99, 100, volume=1000)
    assert Decimal(80) == sim.filled(first)
    assert Decimal(20) == sim.filled(second)


def test_latency_holds_an_order_back_from_the_next_bar() -> None:
    sim = Scenario(fill_model=FillModel(latency=timedelta(seconds=30)))
    order = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(order)
    assert [] == sim.kinds(order)
    sim.bar(100, 101, 99, 100)  # starts before the order arrives
    assert [K.ACCEPTED] == sim.kinds(order)
    assert sim.fills(order) == []
    sim.bar(102, 103, 101, 102)
    assert [Decimal(102)] == sim.fill_prices(order)


def test_slippage_moves_market_fills_against_the_order_within_the_bar() -> None:
    sim = Scenario(fill_model=FillModel(slippage_ticks=3))
    buy = sim.request(BUY, 10, OrderType.MARKET)
    sell = sim.request(SELL, 10, OrderType.MARKET)
    sim.submit(buy)
    sim.submit(sell)
    sim.bar(100, 100.02, 99, 100)
    assert [Decimal("100.02")] == sim.fill_prices(buy)  # 100.03 clamped to the high
    assert [Decimal("99.97")] == sim.fill_prices(sell)


def test_slippage_never_worsens_a_limit_price() -> None:
    sim = Scenario(fill_model=FillModel(slippage_ticks=5, slippage_jitter_ticks=5))
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.bar(101, 101, 99, 100)
    assert [Decimal(100)] == sim.fill_prices(order)


def test_stock_commission_has_a_minimum_per_order_and_a_per_share_rate() -> None:
    sim = Scenario()
    small = sim.request(BUY, 10, OrderType.MARKET)
    large = sim.request(BUY, 1000, OrderType.MARKET)
    sim.submit(small)
    sim.submit(large)
    sim.bar(50, 51, 49, 50)
    assert [Decimal("0.35"), Decimal("3.50")] == sim.commissions()


def test_stock_commission_minimum_is_charged_once_across_partial_fills() -> None:
    sim = Scenario()
    sim.engine.fill_limit = Decimal(50)
    order = sim.request(BUY, 150, OrderType.MARKET)
    sim.submit(order)
    for _ in range(3):
        sim.bar(50, 51, 49, 50)
    # 50 sh: min 0.35; 100 sh: 0.35 still; 150 sh: 0.525 -> 0.525 total
    assert [Decimal("0.35"), Decimal("0"), Decimal("0.175")] == sim.commissions()


def test_stock_commission_is_capped_at_one_percent_of_value() -> None:
    schedule = PerShareCommission()
    assert Decimal("0.05") == schedule.order_total(Decimal(100), Decimal(5), Decimal(0))


def test_per_share_tier_drops_with_monthly_volume() -> None:
    schedule = PerShareCommission()
    assert Decimal("0.0035") == schedule.rate(Decimal(0))
    assert Decimal("0.002") == schedule.rate(Decimal(300_000))
    assert Decimal("0.0005") == schedule.rate(Decimal(200_000_000))


def test_option_commission_is_per_contract_with_a_minimum() -> None:
    schedule = PerContractCommission()
    assert Decimal("1.00") == schedule.order_total(Decimal(1), Decimal(300), Decimal(0))
    assert Decimal("6.50") == schedule.order_total(Decimal(10), Decimal(3000), Decimal(0))


def test_unknown_instrument_is_rejected_with_ib_code_200() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.MARKET, instrument=Stock("ZZNOPE"))
    sim.submit(order)
    assert [K.REJECTED] == sim.kinds(order)
    assert reasons(sim)[0].startswith("[200]")


def test_price_off_the_tick_is_rejected_with_ib_code_110() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100.005")
    sim.submit(order)
    assert [K.REJECTED] == sim.kinds(order)
    assert reasons(sim)[0].startswith("[110]")


def test_order_beyond_buying_power_is_rejected_for_insufficient_funds() -> None:
    sim = Scenario(starting_cash=Decimal(10_000))
    affordable = sim.request(BUY, 90, OrderType.LIMIT, limit_price="100")
    too_much = sim.request(BUY, 20, OrderType.LIMIT, limit_price="100")
    sim.submit(affordable)
    sim.submit(too_much)  # 9,000 is reserved by the first order
    assert [K.ACCEPTED] == sim.kinds(affordable)
    assert [K.REJECTED] == sim.kinds(too_much)
    assert "insufficient funds" in reasons(sim)[0]


def test_selling_a_long_position_needs_no_buying_power() -> None:
    sim = Scenario(starting_cash=Decimal(10_000))
    buy = sim.request(BUY, 99, OrderType.MARKET)
    sim.submit(buy)
    sim.bar(100, 100, 100, 100)
    sell = sim.request(SELL, 99, OrderType.LIMIT, limit_price="50")
    sim.submit(sell)
    assert [K.ACCEPTED] == sim.kinds(sell)


def test_duplicate_client_order_id_raises() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(order)
    with pytest.raises(BrokerRejected):
        sim.submit(order)


def test_reject_next_rejects_exactly_one_order() -> None:
    sim = Scenario()
    sim.engine.reject_next("[201] test says no")
    first = sim.request(BUY, 10, OrderType.MARKET)
    second = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(first)
    sim.submit(second)
    assert [K.REJECTED] == sim.kinds(first)
    assert [K.ACCEPTED] == sim.kinds(second)


def test_cancel_of_a_finished_order_raises() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(order)
    sim.bar(100, 100, 100, 100)
    with pytest.raises(BrokerRejected):
        sim.engine.cancel(order.client_order_id)


def test_account_cash_moves_by_value_and_commission() -> None:
    sim = Scenario(starting_cash=Decimal(10_000))
    sim.submit(sim.request(BUY, 10, OrderType.MARKET))
    sim.bar(100, 100, 100, 100)
    summary = sim.engine.account_summary()
    assert Decimal("8999.65") == summary.cash
    assert Decimal("9999.65") == summary.net_liquidation


def test_a_cancel_still_in_flight_does_not_undo_a_fill_that_came_first() -> None:
    sim = Scenario(fill_model=FillModel(latency=timedelta(seconds=30)))
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.bar(101, 101, 100.5, 101)  # the order is accepted at the end of this bar
    sim.events.extend(sim.engine.cancel(order.client_order_id))  # takes effect 30 s later
    sim.bar(99, 100, 98, 99)  # starts before the cancel arrives: fills at the open
    assert [Decimal(99)] == sim.fill_prices(order)
    assert [K.ACCEPTED] == sim.kinds(order)
