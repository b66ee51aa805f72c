"""The sim fill model, order type by order type, on hand-made one-minute bars.

A bar closing at or above its open is walked open → low → high → close; one closing below its
open, open → high → low → close.
"""

from __future__ import annotations

from decimal import Decimal

from ordergate.adapters.sim.scenario import Scenario
from ordergate.domain.orders import OrderEventKind, OrderType
from ordergate.domain.orders.events import OrderLifecycleEvent
from ordergate.domain.values import Side

BUY, SELL = Side.BUY, Side.SELL
K = OrderEventKind


def test_market_order_sent_between_bars_fills_at_the_next_open() -> None:
    sim = Scenario()
    sim.bar(100, 101, 99, 100.5)
    order = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(order)
    assert sim.fills(order) == []
    sim.bar(101, 102, 100, 101.5)
    assert [Decimal("101")] == sim.fill_prices(order)


def test_limit_buy_fills_at_the_open_when_the_market_gaps_below_the_limit() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.bar(98, 99, 97, 98.5)
    assert [Decimal("98")] == sim.fill_prices(order)


def test_limit_buy_is_not_filled_when_the_low_only_touches_the_limit() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.bar(101, 102, 100, 101.5)
    assert sim.fills(order) == []


def test_limit_buy_fills_at_the_limit_when_the_price_trades_through() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.bar(101, 102, 99.99, 101.5)
    assert [Decimal("100")] == sim.fill_prices(order)


def test_limit_sell_fills_at_the_limit_only_when_the_high_trades_through() -> None:
    sim = Scenario()
    touched = sim.request(SELL, 10, OrderType.LIMIT, limit_price="102")
    through = sim.request(SELL, 10, OrderType.LIMIT, limit_price="101.5")
    sim.submit(touched)
    sim.submit(through)
    sim.bar(101, 102, 100, 101)
    assert sim.fills(touched) == []
    assert [Decimal("101.5")] == sim.fill_prices(through)


def test_buy_stop_triggers_on_the_high_and_fills_at_the_stop() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.STOP, stop_price="101")
    sim.submit(order)
    sim.bar(100, 100.99, 99, 100)
    assert sim.fills(order) == []
    sim.bar(100, 101, 99, 100)
    assert [Decimal("101")] == sim.fill_prices(order)


def test_sell_stop_gapped_through_fills_at_the_open_not_the_stop() -> None:
    sim = Scenario()
    order = sim.request(SELL, 10, OrderType.STOP, stop_price="95")
    sim.submit(order)
    sim.bar(93, 94, 92, 93.5)
    assert [Decimal("93")] == sim.fill_prices(order)


def test_stop_limit_triggered_by_a_gap_beyond_its_limit_rests_as_a_limit() -> None:
    sim = Scenario()
    order = sim.request(SELL, 10, OrderType.STOP_LIMIT, stop_price="95", limit_price="94")
    sim.submit(order)
    sim.bar(93, 93.9, 92, 93.5)  # triggered at the open, never back above 94
    assert sim.fills(order) == []
    sim.bar(93.5, 94.5, 93.4, 94.2)  # trades through 94 on the way up
    assert [Decimal("94")] == sim.fill_prices(order)


def test_stop_limit_fills_at_the_stop_when_triggered_inside_the_bar() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.STOP_LIMIT, stop_price="101", limit_price="101.5")
    sim.submit(order)
    sim.bar(100, 102, 99.5, 101.8)
    assert [Decimal("101")] == sim.fill_prices(order)


def test_trailing_stop_by_amount_ratchets_with_the_high_and_reports_each_move() -> None:
    sim = Scenario()
    sim.bar(100, 100.5, 99.5, 100)
    order = sim.request(SELL, 10, OrderType.TRAILING_STOP, trail_amount="1")
    sim.submit(order)
    sim.bar(100, 103, 99.8, 102.5)  # up bar: low 99.8 first (stop 99), then high 103: stop 102
    assert sim.fills(order) == []
    updates = [
        e.stop_price
        for e in sim.events
        if isinstance(e, OrderLifecycleEvent) and e.kind is K.UPDATED
    ]
    assert [Decimal("102")] == updates
    sim.bar(102.5, 102.6, 101, 101.5)  # down bar: high 102.6 (stop 102 stays), low 101 hits 102
    assert [Decimal("102")] == sim.fill_prices(order)


def test_trailing_stop_by_percent_rounds_a_sell_stop_down_to_the_tick() -> None:
    sim = Scenario()
    sim.bar(100, 100.5, 99.5, 100.33)
    order = sim.request(SELL, 10, OrderType.TRAILING_STOP, trail_percent="10")
    sim.submit(order)
    sim.bar(100.33, 100.34, 90.29, 90.3)  # 10% below 100.34 is 90.306 -> stop 90.30
    assert [Decimal("90.3")] == sim.fill_prices(order)


def test_trailing_stop_limit_gapped_below_its_limit_waits_for_the_limit() -> None:
    sim = Scenario()
    sim.bar(100, 100, 99.5, 100)
    order = sim.request(
        SELL, 10, OrderType.TRAILING_STOP, trail_amount="2", trail_limit_offset="0.5"
    )
    sim.submit(order)  # stop 98, limit when triggered 97.5
    sim.bar(97, 97.4, 96, 96.5)
    assert sim.fills(order) == []
    sim.bar(96.5, 97.6, 96.4, 97.5)
    assert [Decimal("97.5")] == sim.fill_prices(order)


def test_buy_trailing_stop_follows_the_low_of_a_short() -> None:
    sim = Scenario()
    sim.bar(100, 100.5, 99.5, 100)
    order = sim.request(BUY, 10, OrderType.TRAILING_STOP, trail_amount="1")
    sim.submit(order)  # stop 101
    sim.bar(100, 100.2, 97, 97.5)  # down bar: low 97 -> stop 98
    assert sim.fills(order) == []
    sim.bar(97.5, 98.5, 97.4, 98.2)  # up bar: low 97.4 first (stop stays 98), high 98.5
    assert [Decimal("98")] == sim.fill_prices(order)


def test_market_order_events_arrive_accepted_then_fill_then_commission() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.MARKET)
    sim.submit(order)
    sim.bar(100, 101, 99, 100)
    kinds = [
        e.kind.value if isinstance(e, OrderLifecycleEvent) else type(e).__name__
        for e in sim.events
    ]
    assert ["ACCEPTED", "ExecutionFill", "CommissionReport"] == kinds


def test_modified_limit_is_confirmed_and_then_fills_at_its_new_price() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="95")
    sim.submit(order)
    events = sim.engine.modify(order.client_order_id, limit_price=Decimal("99.5"))
    assert [K.UPDATED] == [e.kind for e in events if isinstance(e, OrderLifecycleEvent)]
    sim.events.extend(events)
    sim.bar(100, 100.5, 99, 99.8)
    assert [Decimal("99.5")] == sim.fill_prices(order)


def test_a_modification_below_the_filled_quantity_is_refused() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.engine.fill_limit = Decimal(4)
    sim.submit(order)
    sim.bar(99, 100, 98, 99)
    events = sim.engine.modify(order.client_order_id, quantity=Decimal(3))
    assert [K.MODIFY_REJECTED] == [e.kind for e in events if isinstance(e, OrderLifecycleEvent)]


def test_cancelled_order_never_fills() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100")
    sim.submit(order)
    sim.events.extend(sim.engine.cancel(order.client_order_id))
    sim.bar(99, 100, 98, 99)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(order)
    assert sim.fills(order) == []
