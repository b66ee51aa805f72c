"""SimGatewayEngine driven directly (no socket): the emulator's engine over the sim matching engine
and a replayed `SimSession` — its contracts, the replay it steps, the account and market data it
reads from the simulator. Orders are in `test_gateway_sim_sim_orders.py`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _sim_gateway_rig import (  # shared test rig
    DAYS,
    D,
    atm,
    build,
    last,
    limit,
    listed_call,
    market,
    option_query,
    refusal,
    stock,
)

from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    GatewayEngine,
    OrderExecuted,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    BarSource,
    ContractQuery,
    OrderKey,
    SecType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.exec_ids import ExecutionIds
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.sim.session import atm_call
from ordergate.domain.instruments import NEW_YORK, OptionRight, Stock
from ordergate.domain.orders.enums import OrderStatus as SimStatus
from ordergate.domain.values import ClientOrderId, InstrumentId, Side


@pytest.fixture
def engine() -> SimGatewayEngine:
    return SimGatewayEngine(build())


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
        # seeded execution ids: the only part of an emulator's events that is fresh per start
        engine = SimGatewayEngine(build(), execution_ids=ExecutionIds.seeded(1))
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
