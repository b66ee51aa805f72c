"""SimGatewayEngine driven directly (no socket): the emulator's engine over the sim matching engine
and a replayed `SimSession` — orders reach the simulator as the sim broker hands them over, and
its events come back in the causal order the engine protocol asks for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineRefusal,
    GatewayEngine,
    OrderExecuted,
    OrderRejected,
    OrderUpdated,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    BarSource,
    ContractQuery,
    ContractSpec,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    SecType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.sim.session import SimSession, atm_call
from ordergate.domain.instruments import NEW_YORK, OptionContract, OptionRight, Stock
from ordergate.domain.orders.enums import OrderStatus as SimStatus
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

D = Decimal
DAYS = 8


def build(**options: Any) -> SimSession:
    return SimSession.build(["AAPL", "MSFT"], bars=DAYS, seed=7, **options)


@pytest.fixture
def session() -> SimSession:
    return build()


@pytest.fixture
def engine(session: SimSession) -> SimGatewayEngine:
    return SimGatewayEngine(session)


@pytest.fixture
def events(engine: SimGatewayEngine) -> list[EngineEvent]:
    seen: list[EngineEvent] = []
    engine.add_listener(seen.append)
    return seen


def stock(engine: SimGatewayEngine, symbol: str) -> ContractSpec:
    (spec,) = engine.qualify(ContractQuery(symbol=symbol, sec_type=SecType.STOCK))
    return spec


def last(engine: SimGatewayEngine, spec: ContractSpec) -> Decimal:
    quote = engine.snapshot(spec.con_id)
    assert quote is not None
    assert quote.last is not None
    return quote.last


def option_query(contract: OptionContract) -> ContractQuery:
    return ContractQuery(
        symbol=contract.underlying, sec_type=SecType.OPTION, expiry=contract.expiry,
        strike=contract.strike, right=contract.right, exchange="SMART", currency="USD",
    )


def atm(engine: SimGatewayEngine) -> OptionContract:
    aapl = stock(engine, "AAPL")
    contract = atm_call(Stock("AAPL"), last(engine, aapl), engine.now())
    assert contract is not None
    return contract


def listed_call(engine: SimGatewayEngine) -> ContractSpec:
    (spec,) = engine.qualify(option_query(atm(engine)))
    return spec


def ref(cid: str) -> str:
    return f"CT:{cid}"


def market(side: Side, qty: int, cid: str, **kw: Any) -> OrderSpec:
    return OrderSpec(side, D(qty), order_ref=ref(cid), **kw)


def limit(side: Side, qty: int, price: Decimal, cid: str, **kw: Any) -> OrderSpec:
    return OrderSpec(side, D(qty), OrderType.LIMIT, limit_price=price, order_ref=ref(cid), **kw)


def updates(events: list[EngineEvent], key: OrderKey) -> list[OrderStatus]:
    return [e.order.status for e in events if isinstance(e, OrderUpdated) and e.order.key == key]


def kinds(events: list[EngineEvent]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, OrderUpdated):
            out.append(f"U{e.order.key.order_id}:{e.order.status.value}")
        elif isinstance(e, OrderExecuted):
            out.append(f"X{e.execution.key.order_id}")
        else:
            out.append(f"R{e.key.order_id}")
    return out


class SubmitRecorder:
    """Records the submit calls made to a matching engine from outside it (its `submit_list`
    calls its own `submit` once per member)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._depth = 0

    def wrap(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any) -> Any:
            if self._depth == 0:
                self.calls.append((name, args[0]))
            self._depth += 1
            try:
                return target(*args)
            finally:
                self._depth -= 1

        return record


def refusal(call: Callable[[], object]) -> RefusalReason:
    with pytest.raises(EngineRefusal) as caught:
        call()
    return caught.value.reason


# -- the protocol -------------------------------------------------------------------------------
def test_sim_engine_has_every_member_of_the_engine_protocol_and_the_replay() -> None:
    members = [n for n in vars(GatewayEngine) if not n.startswith("_")]
    missing = [n for n in members if not callable(getattr(SimGatewayEngine, n, None))]
    assert missing == []
    assert all(callable(getattr(SimGatewayEngine, n)) for n in ("advance_day", "upcoming_day"))


def test_accounts_and_clock_are_the_simulation_s() -> None:
    session = build(account_id="DU7654321")
    engine = SimGatewayEngine(session)
    assert ("DU7654321",) == tuple(engine.accounts())
    assert session.clock.now() == engine.now()
    assert engine.session is session


# -- contracts ----------------------------------------------------------------------------------
def test_session_stocks_qualify_with_stable_ib_con_ids(engine: SimGatewayEngine) -> None:
    aapl = stock(engine, "AAPL")
    assert 265598 == aapl.con_id
    assert Stock("AAPL") == aapl.instrument
    assert [] == list(engine.qualify(ContractQuery(symbol="IBM")))
    assert [aapl] == list(engine.qualify(ContractQuery(con_id=aapl.con_id)))
    assert stock(SimGatewayEngine(build()), "MSFT") == stock(engine, "MSFT")


def test_a_fully_specified_option_is_listed_on_demand_exactly_as_pick_call_lists_it(
    engine: SimGatewayEngine,
) -> None:
    contract = atm(engine)
    assert [] == list(engine.qualify(ContractQuery(symbol="AAPL", sec_type=SecType.OPTION)))
    (spec,) = engine.qualify(option_query(contract))
    twin = build()
    spot = twin.engine.last_price(InstrumentId("AAPL"))
    assert spot is not None
    assert contract == twin.pick_call(Stock("AAPL"), spot[0], twin.clock.now())
    assert contract == spec.instrument
    assert 265598 == spec.under_con_id
    assert twin.engine.last_price(contract.id) == engine.session.engine.last_price(contract.id)
    assert [contract] == list(engine.session.options.watched("AAPL"))
    quote = engine.snapshot(spec.con_id)
    assert quote is not None
    assert quote.bid == quote.ask == quote.last
    assert [spec] == list(engine.qualify(ContractQuery(symbol="AAPL", sec_type=SecType.OPTION)))
    assert [spec] == list(engine.qualify(option_query(contract)))  # listed once, same id


def test_options_that_cannot_trade_here_are_not_listed(engine: SimGatewayEngine) -> None:
    today = engine.now().astimezone(NEW_YORK).date()
    expired = ContractQuery(symbol="AAPL", sec_type=SecType.OPTION, expiry=today - timedelta(1),
                            strike=D(450), right=OptionRight.CALL)
    untraded = ContractQuery(symbol="IBM", sec_type=SecType.OPTION, expiry=today + timedelta(30),
                             strike=D(200), right=OptionRight.CALL)
    assert [] == list(engine.qualify(expired))
    assert [] == list(engine.qualify(untraded))
    assert [] == list(engine.session.options.watched("AAPL"))


# -- orders -------------------------------------------------------------------------------------
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


# -- replay, executions, account ------------------------------------------------------------------
def test_advance_day_emits_each_bar_s_events_while_the_market_stands_there(
    engine: SimGatewayEngine,
) -> None:
    aapl, msft = stock(engine, "AAPL"), stock(engine, "MSFT")
    # GTC: the simulator expires every due DAY order at the end of the first bar of the day
    engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 5, "a", tif=TimeInForce.GTC))
    engine.place_order(OrderKey(1, 2), msft, market(Side.BUY, 5, "m", tif=TimeInForce.GTC))
    seen: list[tuple[str, SimStatus]] = []

    def watch(event: EngineEvent) -> None:
        if isinstance(event, OrderExecuted):
            other = "m" if event.execution.contract == aapl else "a"
            seen.append((other, engine.session.engine.order_view(ClientOrderId(other)).status))

    engine.add_listener(watch)
    engine.advance_day()
    assert [("m", SimStatus.ACCEPTED), ("a", SimStatus.FILLED)] == seen


def test_executions_positions_and_account_come_from_the_simulator(
    engine: SimGatewayEngine,
) -> None:
    aapl = stock(engine, "AAPL")
    account = engine.accounts()[0]
    engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10, "b"))
    engine.advance_day()
    engine.place_order(OrderKey(1, 2), aapl, market(Side.SELL, 4, "s"))
    engine.advance_day()
    buy, sell = engine.executions()
    assert buy.perm_id != sell.perm_id
    assert buy.exec_id != sell.exec_id
    assert D(4) * (sell.price - buy.price) == sell.realized_pnl
    (position,) = engine.positions(account)
    assert (aapl, D(6), buy.price) == (position.contract, position.quantity, position.avg_price)
    summary = engine.session.engine.account_summary()
    snapshot = engine.account_snapshot(account)
    assert (summary.cash, summary.net_liquidation) == (snapshot.total_cash,
                                                       snapshot.net_liquidation)
    assert D(6) * last(engine, aapl) == snapshot.gross_position_value
    assert sell.realized_pnl == engine.pnl(account).realized
    single = engine.pnl_single(account, aapl.con_id)
    assert single is not None
    assert (D(6), sell.realized_pnl) == (single.position, single.realized)
    assert [] == list(engine.positions("DU999"))
    assert RefusalReason.UNKNOWN_ACCOUNT == refusal(lambda: engine.account_snapshot("DU999"))


def test_what_if_prices_margin_and_commission_with_the_fill_model(
    engine: SimGatewayEngine,
) -> None:
    aapl = stock(engine, "AAPL")
    impact = engine.what_if(OrderKey(1, 1), aapl, market(Side.BUY, 200, "w"))
    assert D(200) * last(engine, aapl) == impact.init_margin_change
    assert D("0.70") == impact.commission  # 200 × 0.0035 per share, above the minimum
    assert -impact.commission == impact.equity_with_loan_change
    assert [] == list(engine.open_orders())


def test_snapshots_and_bars_come_from_the_replayed_series(engine: SimGatewayEngine) -> None:
    aapl = stock(engine, "AAPL")
    series = engine.session.series["AAPL"]
    ended = [b for b in series if b.end <= engine.now()]
    quote = engine.snapshot(aapl.con_id)
    assert quote is not None
    assert (ended[-1].end, ended[-1].to_bar().close, ended[-2].to_bar().close) == (
        quote.ts, quote.last, quote.close)
    assert (None, None) == (quote.bid, quote.ask)
    request = BarRequest(aapl.con_id, engine.now(), timedelta(days=60), timedelta(days=1))
    bars = engine.bars(request)
    assert [b.ts for b in ended if b.ts >= engine.now() - timedelta(days=60)] == [
        b.ts for b in bars]
    assert {timedelta(days=1)} == {b.duration for b in bars}
    minute = BarRequest(aapl.con_id, engine.now(), timedelta(days=1), timedelta(minutes=1))
    midpoint = BarRequest(aapl.con_id, engine.now(), timedelta(days=5), timedelta(days=1),
                          BarSource.MIDPOINT)
    option = BarRequest(listed_call(engine).con_id, engine.now(), timedelta(days=5),
                        timedelta(days=1))
    for asked in (minute, midpoint, option):
        assert RefusalReason.NO_MARKET_DATA == refusal(lambda a=asked: engine.bars(a))
    unknown = BarRequest(4242, engine.now(), timedelta(days=5), timedelta(days=1))
    assert RefusalReason.UNKNOWN_CONTRACT == refusal(lambda: engine.bars(unknown))
    assert engine.snapshot(4242) is None


def test_an_option_market_order_fills_at_once_against_the_option_s_quote(
    engine: SimGatewayEngine, events: list[EngineEvent]
) -> None:
    call = listed_call(engine)
    price = last(engine, call)
    engine.place_order(OrderKey(1, 1), call, market(Side.BUY, 2, "o"))
    assert ["U1:working", "X1", "U1:filled"] == kinds(events)
    assert (price, D("1.30")) == (engine.executions()[0].price, engine.executions()[0].commission)


def test_the_replay_ends_after_its_last_day(engine: SimGatewayEngine) -> None:
    assert DAYS == engine.total_days
    days = []
    while (day := engine.upcoming_day()) is not None:
        days.append(day)
        assert engine.advance_day()
    assert DAYS == len(days) == len(set(days))
    assert not engine.advance_day()


def test_the_same_session_and_orders_give_the_same_events() -> None:
    def run() -> list[str]:
        engine = SimGatewayEngine(build())
        seen: list[EngineEvent] = []
        engine.add_listener(seen.append)
        aapl, msft = stock(engine, "AAPL"), stock(engine, "MSFT")
        engine.place_order(OrderKey(1, 1), aapl, market(Side.BUY, 10, "a"))
        engine.place_order(OrderKey(1, 2), msft, limit(Side.BUY, 10, D("28.00"),
                                                       "m", tif=TimeInForce.GTC))
        engine.place_order(OrderKey(1, 3), listed_call(engine), market(Side.BUY, 1, "o"))
        while engine.advance_day():
            pass
        return [repr(e) for e in seen]

    first = run()
    assert len(first) > 6
    assert first == run()


# -- the session's replay and option listing -------------------------------------------------------
def test_step_day_returns_a_day_s_events_and_next_cycle_uses_it() -> None:
    session = build()
    request_day = session.pacer.upcoming_day()
    assert [] == session.pacer.step_day()
    assert request_day != session.pacer.upcoming_day()
    while session.pacer.step_day() is not None:
        pass
    assert session.pacer.upcoming_day() is None


def test_atm_call_chooses_without_listing_and_pick_call_lists_it() -> None:
    session = build()
    now = session.clock.now()
    chosen = atm_call(Stock("AAPL"), D("466.59"), now, min_days_to_expiry=21, strike_step=D(5))
    assert chosen is not None
    assert (D(465), OptionRight.CALL, 4) == (chosen.strike, chosen.right, chosen.expiry.weekday())
    assert chosen.days_to_expiry(now) >= 21
    assert session.engine.instrument(chosen.id) is None
    assert chosen == session.pick_call(Stock("AAPL"), D("466.59"), now)
    assert session.engine.instrument(chosen.id) == chosen
    assert atm_call(Stock("AAPL"), D("1"), now) is None
