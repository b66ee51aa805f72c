"""Orders through SimGatewayEngine, driven directly: they reach the sim matching engine as the sim
broker hands them over (one submit per order, one submit_list per bracket held until transmitted,
modify, cancel), with our IBKR adapter's client order ids, and the simulator's events come back
as the engine protocol's updates, executions and refusals in causal order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from _sim_gateway_rig import (  # shared test rig
    D,
    SubmitRecorder,
    build,
    kinds,
    last,
    limit,
    listed_call,
    listen,
    market,
    ref,
    refusal,
    stock,
    updates,
)

from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineRefusal,
    OrderRejected,
    OrderUpdated,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.sim.costs import FillModel
from ordergate.domain.instruments import NEW_YORK
from ordergate.domain.orders.enums import OrderStatus as SimStatus
from ordergate.domain.orders.enums import OrderType as SimType
from ordergate.domain.orders.enums import TimeInForce as SimTif
from ordergate.domain.orders.request import OcaType
from ordergate.domain.values import ClientOrderId, Side


@pytest.fixture
def engine() -> SimGatewayEngine:
    return SimGatewayEngine(build())


@pytest.fixture
def events(engine: SimGatewayEngine) -> list[EngineEvent]:
    return listen(engine)


# -- placing and filling ------------------------------------------------------------------------
def test_a_market_order_is_announced_then_fills_at_the_next_open_in_causal_order(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, market(Side.BUY, 10, "m1"))
    assert [OrderStatus.WORKING] == updates(events, key)
    day = engine.upcoming_day()
    assert engine.advance_day()
    assert ["U1:working", "X1", "U1:filled"] == kinds(events)
    report = engine.executions()[0]
    bar = next(b for b in engine.session.series["AAPL"] if b.ts.astimezone(NEW_YORK).date() == day)
    assert (D(10), bar.to_bar().open, bar.ts) == (report.quantity, report.price, report.time)
    assert D("0.35") == report.commission  # the fill model's per-order minimum
    assert (D(10), report.price, None) == (report.cum_qty, report.avg_price, report.realized_pnl)
    assert ClientOrderId("m1") in engine.session.engine.book.orders


def test_orders_of_other_clients_get_a_key_derived_client_order_id(
    engine: SimGatewayEngine,
) -> None:
    engine.place_order(OrderKey(7, 42), stock(engine, "AAPL"), OrderSpec(Side.BUY, D(1)))
    assert ClientOrderId("GW7-42") in engine.session.engine.book.orders


@pytest.mark.parametrize("order_ref", ["OTHER:\x01ref", "OTHER:" + "x" * 200, "OTHER: padded "])
def test_an_order_ref_that_is_no_client_order_id_gets_a_key_derived_one(
    engine: SimGatewayEngine, order_ref: str
) -> None:
    """Another TWS client's orderRef that breaks the id rule is not ours: the order is kept
    under a key-derived id instead of failing the placeOrder."""
    spec = OrderSpec(Side.BUY, D(1), order_ref=order_ref)
    engine.place_order(OrderKey(7, 43), stock(engine, "AAPL"), spec)
    assert ClientOrderId("GW7-43") in engine.session.engine.book.orders


def test_a_bracket_is_held_until_transmitted_then_submitted_as_one_list(
    engine: SimGatewayEngine, events: list[EngineEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = engine.session.engine
    recorder = SubmitRecorder()
    calls = recorder.calls
    monkeypatch.setattr(sim, "submit", recorder.wrap("submit", sim.submit))
    monkeypatch.setattr(sim, "submit_list", recorder.wrap("submit_list", sim.submit_list))
    aapl = stock(engine, "AAPL")
    px = last(engine, aapl)
    engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10, "e", transmit=False))
    engine.place_order(OrderKey(1, 2), aapl, limit(Side.SELL, 10, px + 30, "tp", parent_id=1,
                                                   oca_group="b", transmit=False))
    assert [] == calls
    assert [OrderStatus.HELD, OrderStatus.HELD] == [v.status for v in engine.open_orders()]
    engine.place_order(OrderKey(1, 3), aapl, OrderSpec(
        Side.SELL, D(10), OrderType.STOP, stop_price=px - 30, parent_id=1, oca_group="b",
        order_ref=ref("sl")))
    assert 1 == len(calls)
    name, requests = calls[0]
    assert "submit_list" == name
    assert ["e", "tp", "sl"] == [str(r.client_order_id) for r in requests]
    assert [None, "e", "e"] == [r.parent_id and str(r.parent_id) for r in requests]
    assert ["U1:held", "U2:held", "U1:working", "U2:held", "U3:held"] == kinds(events)
    events.clear()
    assert engine.advance_day()
    assert kinds(events)[:4] == ["X1", "U1:filled", "U2:working", "U3:working"]


def test_a_held_order_can_be_cancelled_before_it_is_transmitted(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10, "e", transmit=False))
    engine.place_order(OrderKey(1, 2), aapl, limit(Side.SELL, 10, D(900), "tp", parent_id=1,
                                                   transmit=False))
    engine.cancel_order(OrderKey(1, 1))
    assert ["U1:held", "U2:held", "U1:cancelled", "U2:cancelled"] == kinds(events)
    assert {} == engine.session.engine.book.orders
    assert [] == list(engine.open_orders())


def test_a_live_key_placed_again_modifies_the_order_in_the_matching_engine(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    px = last(engine, aapl)
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, limit(Side.BUY, 10, px - 50, "l1", tif=TimeInForce.GTC))
    engine.place_order(key, aapl, limit(Side.BUY, 12, px - 40, "l1", tif=TimeInForce.GTC))
    view = engine.session.engine.order_view(ClientOrderId("l1"))
    assert (D(12), px - 40) == (view.quantity, view.limit_price)
    (latest,) = engine.open_orders()
    assert (D(12), px - 40, OrderStatus.WORKING) == (
        latest.spec.quantity, latest.spec.limit_price, latest.status)
    assert ["U1:working", "U1:working"] == kinds(events)
    engine.place_order(key, aapl, limit(Side.BUY, 12, px - 40, "l1", tif=TimeInForce.GTC))
    assert 3 == len(events)  # a modification that changes nothing is announced too


def test_modifications_the_simulator_cannot_make_are_refused(engine: SimGatewayEngine) -> None:
    aapl = stock(engine, "AAPL")
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, limit(Side.BUY, 10, D(100), "l1"))
    assert RefusalReason.MODIFY_NOT_ALLOWED == refusal(
        lambda: engine.place_order(key, aapl, market(Side.BUY, 10, "l1")))
    assert RefusalReason.MODIFY_NOT_ALLOWED == refusal(
        lambda: engine.place_order(key, aapl, limit(Side.SELL, 10, D(100), "l1")))
    assert RefusalReason.MODIFY_NOT_ALLOWED == refusal(lambda: engine.place_order(
        key, aapl, limit(Side.BUY, 10, D(100), "l1", tif=TimeInForce.GTC)))
    assert RefusalReason.INVALID_ORDER == refusal(
        lambda: engine.place_order(key, aapl, limit(Side.BUY, 10, D("100.001"), "l1")))
    assert D(100) == engine.session.engine.order_view(ClientOrderId("l1")).limit_price


def test_cancel_reaches_the_matching_engine_and_refuses_unknown_or_finished_orders(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, limit(Side.BUY, 10, D(100), "l1"))
    engine.cancel_order(key)
    assert ["U1:working", "U1:cancelled"] == kinds(events)
    assert SimStatus.CANCELED == engine.session.engine.order_view(ClientOrderId("l1")).status
    assert RefusalReason.NOT_CANCELLABLE == refusal(lambda: engine.cancel_order(key))
    assert RefusalReason.ORDER_NOT_FOUND == refusal(lambda: engine.cancel_order(OrderKey(1, 9)))
    assert RefusalReason.DUPLICATE_ORDER_ID == refusal(
        lambda: engine.place_order(key, aapl, limit(Side.BUY, 10, D(100), "l1")))
    assert [OrderStatus.CANCELLED] == [v.status for v in engine.completed_orders()]


def test_cancel_all_cancels_held_and_working_orders(engine: SimGatewayEngine) -> None:
    aapl = stock(engine, "AAPL")
    engine.place_order(OrderKey(1, 1), aapl, limit(Side.BUY, 10, D(100), "w"))
    engine.place_order(OrderKey(2, 1), aapl, limit(Side.BUY, 10, D(101), "h", transmit=False))
    engine.cancel_all()
    assert [] == list(engine.open_orders())
    assert 2 == len(engine.completed_orders())


def test_refusals_carry_the_reason_and_change_nothing(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    assert RefusalReason.INSUFFICIENT_FUNDS == refusal(
        lambda: engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10_000, "big")))
    assert RefusalReason.INVALID_ORDER == refusal(lambda: engine.place_order(
        OrderKey(1, 2), aapl, limit(Side.BUY, 1, D("100.005"), "tick")))
    assert RefusalReason.UNKNOWN_ACCOUNT == refusal(lambda: engine.place_order(
        OrderKey(1, 3), aapl, market(Side.BUY, 1, "acct", account="DU999")))
    assert RefusalReason.INVALID_ORDER == refusal(lambda: engine.place_order(
        OrderKey(1, 4), aapl, market(Side.SELL, 1, "orphan", parent_id=77)))
    assert [] == events
    assert [] == list(engine.open_orders()) == list(engine.completed_orders())
    engine.place_order(OrderKey(1, 5), aapl, market(Side.BUY, 1, "dup"))
    assert RefusalReason.DUPLICATE_ORDER_ID == refusal(
        lambda: engine.place_order(OrderKey(1, 6), aapl, market(Side.BUY, 1, "dup")))
    engine.session.engine.reject_next("[201] Order rejected - reason: halted")
    assert RefusalReason.INVALID_ORDER == refusal(
        lambda: engine.place_order(OrderKey(1, 7), aapl, market(Side.BUY, 1, "halted")))


def test_a_bracket_whose_parent_the_simulator_rejects_is_reported_rejected(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10_000, "e", transmit=False))
    with pytest.raises(EngineRefusal):
        engine.place_order(OrderKey(1, 2), aapl, limit(Side.SELL, 10_000, D(900), "tp",
                                                       parent_id=1))
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    assert [(OrderKey(1, 1), RefusalReason.INSUFFICIENT_FUNDS)] == [
        (e.key, e.reason) for e in rejected]
    assert [OrderStatus.INACTIVE] == [v.status for v in engine.completed_orders()]


def test_an_option_market_order_fills_at_once_against_the_option_s_quote(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    call = listed_call(engine)
    price = last(engine, call)
    engine.place_order(OrderKey(1, 1), call, market(Side.BUY, 2, "o"))
    assert ["U1:working", "X1", "U1:filled"] == kinds(events)
    assert (price, D("1.30")) == (engine.executions()[0].price, engine.executions()[0].commission)




# -- order types, held modifications, partial fills, latency --------------------------------------
def test_every_order_type_and_time_in_force_reaches_the_simulator_as_a_domain_request(
    engine: SimGatewayEngine,
) -> None:
    aapl = stock(engine, "AAPL")
    px = last(engine, aapl)
    until = datetime(2013, 3, 1, 21, 0, tzinfo=UTC)
    specs: dict[str, OrderSpec] = {
        "stp-lmt": OrderSpec(Side.SELL, D(1), OrderType.STOP_LIMIT, limit_price=px - 10,
                             stop_price=px - 9, tif=TimeInForce.GTC),
        "trail": OrderSpec(Side.SELL, D(1), OrderType.TRAILING_STOP, trailing_amount=D(5),
                           trail_stop_price=px - 6, tif=TimeInForce.GTD, good_till=until),
        "trail-lmt": OrderSpec(Side.SELL, D(1), OrderType.TRAILING_STOP_LIMIT,
                               trailing_percent=D(2), limit_price_offset=D("0.5")),
        "ioc": OrderSpec(Side.BUY, D(1), OrderType.LIMIT, limit_price=px - 20,
                         tif=TimeInForce.IOC, oca_group="g", oca_type=2),
    }
    for number, (cid, spec) in enumerate(specs.items(), start=1):
        engine.place_order(OrderKey(1, number), aapl, attrs.evolve(spec, order_ref=ref(cid)))
    book = engine.session.engine.book.orders
    got = {cid: book[ClientOrderId(cid)].request for cid in specs}
    assert (SimType.STOP_LIMIT, px - 10, px - 9, SimTif.GTC) == (
        got["stp-lmt"].order_type, got["stp-lmt"].limit_price, got["stp-lmt"].stop_price,
        got["stp-lmt"].time_in_force)
    assert (SimType.TRAILING_STOP, D(5), px - 6, SimTif.GTD, until) == (
        got["trail"].order_type, got["trail"].trail_amount, got["trail"].stop_price,
        got["trail"].time_in_force, got["trail"].expire_at)
    assert (SimType.TRAILING_STOP, D(2), D("0.5"), None) == (
        got["trail-lmt"].order_type, got["trail-lmt"].trail_percent,
        got["trail-lmt"].trail_limit_offset, got["trail-lmt"].limit_price)
    assert (SimTif.IOC, "g", OcaType.REDUCE_WITH_BLOCK) == (
        got["ioc"].time_in_force, got["ioc"].oca_group, got["ioc"].oca_type)
    fixed_limit = OrderSpec(Side.SELL, D(1), OrderType.TRAILING_STOP_LIMIT, trailing_amount=D(5),
                            limit_price=px - 8, order_ref=ref("no-offset"))
    assert RefusalReason.INVALID_ORDER == refusal(
        lambda: engine.place_order(OrderKey(1, 9), aapl, fixed_limit))


def test_a_trailing_stop_s_moves_are_announced_with_the_new_stop(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    engine.place_order(OrderKey(1, 1), aapl, OrderSpec(
        Side.BUY, D(5), OrderType.TRAILING_STOP, trailing_amount=D(60), tif=TimeInForce.GTC,
        order_ref=ref("t")))
    while engine.advance_day():
        pass
    stops = [e.order.spec.trail_stop_price for e in events if isinstance(e, OrderUpdated)]
    assert None is stops[0]
    assert len(set(stops[1:])) > 1  # it ratcheted down with AAPL's fall more than once
    assert stops[-1] == engine.session.engine.order_view(ClientOrderId("t")).stop_price


def test_a_held_order_placed_again_with_transmit_goes_in_as_modified(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, limit(Side.BUY, 5, D(100), "h", transmit=False))
    engine.place_order(key, aapl, limit(Side.BUY, 6, D(101), "h"))
    view = engine.session.engine.order_view(ClientOrderId("h"))
    assert (D(6), D(101)) == (view.quantity, view.limit_price)
    assert ["U1:held", "U1:held", "U1:working"] == kinds(events)
    other = OrderKey(1, 2)
    engine.place_order(other, aapl, limit(Side.BUY, 1, D(100), "h2", transmit=False))
    assert RefusalReason.MODIFY_NOT_ALLOWED == refusal(
        lambda: engine.place_order(other, aapl, limit(Side.SELL, 1, D(100), "h2")))


def test_held_oca_members_go_in_as_one_list(
    engine: SimGatewayEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = engine.session.engine
    recorder = SubmitRecorder()
    monkeypatch.setattr(sim, "submit", recorder.wrap("submit", sim.submit))
    monkeypatch.setattr(sim, "submit_list", recorder.wrap("submit_list", sim.submit_list))
    aapl, msft = stock(engine, "AAPL"), stock(engine, "MSFT")
    engine.place_order(OrderKey(1, 1), aapl, limit(Side.BUY, 1, D(100), "a", oca_group="g",
                                                   oca_type=1, transmit=False))
    engine.place_order(OrderKey(1, 2), msft, limit(Side.BUY, 1, D(20), "other", transmit=False))
    engine.place_order(OrderKey(1, 3), msft, limit(Side.BUY, 1, D(21), "b", oca_group="g",
                                                   oca_type=1))
    assert [("submit_list", ["a", "b"])] == [
        (name, [str(r.client_order_id) for r in requests]) for name, requests in recorder.calls]
    assert [OrderStatus.HELD] == [
        v.status for v in engine.open_orders() if v.key == OrderKey(1, 2)]


def test_partial_fills_report_what_filled_and_a_modification_below_it_is_refused(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    aapl = stock(engine, "AAPL")
    engine.session.engine.fill_limit = D(3)
    key = OrderKey(1, 1)
    engine.place_order(key, aapl, market(Side.BUY, 10, "p", tif=TimeInForce.GTC))
    engine.advance_day()
    assert ["U1:working", "X1", "U1:working"] == kinds(events)
    (working,) = engine.open_orders()
    assert (D(3), D(7)) == (working.filled, working.remaining)
    assert RefusalReason.INVALID_ORDER == refusal(
        lambda: engine.place_order(key, aapl, market(Side.BUY, 2, "p", tif=TimeInForce.GTC)))
    assert D(10) == engine.session.engine.order_view(ClientOrderId("p")).quantity


def test_with_simulated_latency_an_order_is_held_until_the_simulator_accepts_it() -> None:
    engine = SimGatewayEngine(build(fill_model=FillModel(latency=timedelta(seconds=2))))
    events = listen(engine)
    placed = engine.now()
    engine.place_order(OrderKey(1, 1), stock(engine, "AAPL"),
                       market(Side.BUY, 5, "late", tif=TimeInForce.GTC))
    assert ["U1:held"] == kinds(events)
    assert SimStatus.SUBMITTED == engine.session.engine.order_view(ClientOrderId("late")).status
    engine.advance_day()
    assert ["U1:held", "U1:working", "X1", "U1:filled"] == kinds(events)
    working = events[1]
    assert isinstance(working, OrderUpdated)
    assert placed + timedelta(seconds=2) == working.order.updated_at
