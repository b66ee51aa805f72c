"""Brackets, OCA groups and time in force in the sim matching engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ordergate.adapters.sim.scenario import Scenario
from ordergate.domain.orders import OcaType, OrderEventKind, OrderType, TimeInForce
from ordergate.domain.orders.events import OrderLifecycleEvent
from ordergate.domain.values import Side

BUY, SELL = Side.BUY, Side.SELL
K = OrderEventKind


def bracket(sim: Scenario, entry_limit: str, take_profit: str, stop_loss: str):  # type: ignore[no-untyped-def]
    entry = sim.request(BUY, 100, OrderType.LIMIT, limit_price=entry_limit)
    tp = sim.request(
        SELL, 100, OrderType.LIMIT, limit_price=take_profit, parent_id=entry.client_order_id,
        oca_group="B1",
    )
    sl = sim.request(
        SELL, 100, OrderType.STOP, stop_price=stop_loss, parent_id=entry.client_order_id,
        oca_group="B1",
    )
    sim.submit_list(entry, tp, sl)
    return entry, tp, sl


def test_bracket_children_wait_for_the_parent_to_fill() -> None:
    sim = Scenario()
    entry, tp, _sl = bracket(sim, "100", "105", "95")
    sim.bar(101, 106, 100.5, 105.5)  # would hit the take-profit, but the entry never filled
    assert sim.fills(tp) == []
    assert sim.fills(entry) == []


def test_bracket_child_can_fill_in_the_bar_its_parent_fills_in_path_order() -> None:
    sim = Scenario()
    entry, tp, sl = bracket(sim, "100", "105", "95")
    sim.bar(101, 106, 99, 105.5)  # up bar: low 99 fills the entry at 100, then high 106 the TP
    assert [Decimal("100")] == sim.fill_prices(entry)
    assert [Decimal("105")] == sim.fill_prices(tp)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(sl)


def test_bracket_stop_loss_fill_cancels_the_take_profit() -> None:
    sim = Scenario()
    _entry, tp, sl = bracket(sim, "100", "105", "95")
    sim.bar(100.5, 101, 99, 100)  # down bar: entry fills at 100 on the way to the low
    sim.bar(99, 99.5, 94, 94.5)
    assert [Decimal("95")] == sim.fill_prices(sl)
    assert sim.fills(tp) == []
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(tp)


def test_cancelling_an_unfilled_bracket_parent_cancels_its_children() -> None:
    sim = Scenario()
    entry, tp, sl = bracket(sim, "100", "105", "95")
    sim.events.extend(sim.engine.cancel(entry.client_order_id))
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(tp)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(sl)


def test_children_of_a_partly_filled_parent_shrink_to_its_fill_when_it_ends() -> None:
    sim = Scenario()
    sim.engine.fill_limit = Decimal(40)
    entry, _tp, _sl = bracket(sim, "100", "105", "95")
    sim.bar(100.5, 101, 99, 100)
    sim.events.extend(sim.engine.cancel(entry.client_order_id))
    shrunk = [
        e.quantity
        for e in sim.events
        if isinstance(e, OrderLifecycleEvent) and e.kind is K.UPDATED
    ]
    assert [Decimal(40), Decimal(40)] == shrunk


def test_oca_cancel_group_fills_only_the_first_member_reached() -> None:
    sim = Scenario()
    low = sim.request(BUY, 10, OrderType.LIMIT, limit_price="99", oca_group="G")
    lower = sim.request(BUY, 10, OrderType.LIMIT, limit_price="98", oca_group="G")
    sim.submit_list(low, lower)
    sim.bar(100, 100.5, 97, 97.5)
    assert [Decimal("99")] == sim.fill_prices(low)
    assert sim.fills(lower) == []


def test_oca_reduce_group_shrinks_the_others_by_the_filled_quantity() -> None:
    sim = Scenario()
    sim.engine.fill_limit = Decimal(4)
    a = sim.request(
        BUY, 10, OrderType.LIMIT, limit_price="99", oca_group="R",
        oca_type=OcaType.REDUCE_WITH_BLOCK,
    )
    b = sim.request(
        BUY, 10, OrderType.LIMIT, limit_price="90", oca_group="R",
        oca_type=OcaType.REDUCE_WITH_BLOCK,
    )
    sim.submit_list(a, b)
    sim.bar(100, 100.5, 98, 98.5)
    updated = [
        e.quantity for e in sim.events if isinstance(e, OrderLifecycleEvent) and e.kind is K.UPDATED
    ]
    assert [Decimal(6)] == updated


def test_day_order_expires_at_the_session_close() -> None:
    sim = Scenario()  # starts Tuesday 10:00 New York
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="90")
    sim.submit(order)
    sim.advance(timedelta(hours=5, minutes=59))
    assert [K.ACCEPTED] == sim.kinds(order)
    sim.advance(timedelta(minutes=1))
    assert [K.ACCEPTED, K.EXPIRED] == sim.kinds(order)
    expired = [e for e in sim.events if isinstance(e, OrderLifecycleEvent)][-1]
    assert datetime(2024, 1, 2, 21, 0, tzinfo=UTC) == expired.ts_event


def test_gtc_order_survives_the_close() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="90", time_in_force=TimeInForce.GTC)
    sim.submit(order)
    sim.advance(timedelta(days=3))
    assert [K.ACCEPTED] == sim.kinds(order)


def test_gtd_order_expires_at_its_time() -> None:
    sim = Scenario()
    until = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)
    order = sim.request(
        BUY, 10, OrderType.LIMIT, limit_price="90", time_in_force=TimeInForce.GTD,
        expire_at=until,
    )
    sim.submit(order)
    sim.advance(timedelta(minutes=29))
    assert [K.ACCEPTED] == sim.kinds(order)
    sim.advance(timedelta(minutes=1))
    assert [K.ACCEPTED, K.EXPIRED] == sim.kinds(order)


def test_ioc_gets_the_open_and_its_remainder_is_cancelled() -> None:
    sim = Scenario()
    sim.engine.fill_limit = Decimal(3)
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100", time_in_force=TimeInForce.IOC)
    sim.submit(order)
    sim.bar(99.5, 100, 98, 99)
    assert Decimal(3) == sim.filled(order)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(order)


def test_ioc_not_marketable_at_the_open_is_cancelled_even_if_the_bar_reaches_it() -> None:
    sim = Scenario()
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100", time_in_force=TimeInForce.IOC)
    sim.submit(order)
    sim.bar(101, 101.5, 99, 100)
    assert sim.fills(order) == []
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(order)


def test_ioc_on_a_live_quote_executes_on_arrival() -> None:
    sim = Scenario()
    sim.tick("100")
    order = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100", time_in_force=TimeInForce.IOC)
    sim.submit(order)
    assert [Decimal("100")] == sim.fill_prices(order)


def test_oca_list_on_a_live_quote_fills_only_its_first_member() -> None:
    sim = Scenario()
    sim.tick("100")
    first = sim.request(BUY, 10, OrderType.LIMIT, limit_price="100", oca_group="Q")
    second = sim.request(BUY, 10, OrderType.LIMIT, limit_price="101", oca_group="Q")
    sim.submit_list(first, second)
    assert [Decimal("100")] == sim.fill_prices(first)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(second)


def test_an_order_joining_an_oca_group_that_already_executed_is_cancelled() -> None:
    sim = Scenario()
    sim.tick("100")
    sim.submit(sim.request(BUY, 10, OrderType.MARKET, oca_group="LATE"))
    late = sim.request(BUY, 10, OrderType.LIMIT, limit_price="99", oca_group="LATE")
    sim.submit(late)
    assert [K.ACCEPTED, K.CANCELED] == sim.kinds(late)
