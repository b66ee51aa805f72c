"""Circuit breakers, the breaker board and the trading state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import BreakerReset, BreakerTripped, TradingStateChanged
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import (
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk import (
    BreakerBoard,
    BreakerConfig,
    BreakerKind,
    BreakerState,
    CircuitBreaker,
    KillSwitchEngaged,
    TradingState,
    TradingStateMachine,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

T0 = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
S = BreakerState
COOL = timedelta(minutes=5)
D = Decimal


# -- one breaker ------------------------------------------------------------------------------
def test_breaker_trips_cools_down_probes_and_closes() -> None:
    breaker = CircuitBreaker("x", COOL)
    opened, tripped = breaker.trip(T0, "too many losses")
    assert S.OPEN == opened.state
    assert BreakerTripped("x", "too many losses", S.CLOSED, T0, T0) == tripped
    assert S.CLOSED == breaker.state  # values never change

    early, nothing = opened.tick(T0 + COOL - timedelta(seconds=1))
    assert (early, nothing) == (opened, None)

    half, event = opened.tick(T0 + COOL)
    assert S.HALF_OPEN == half.state
    assert BreakerReset("x", S.HALF_OPEN, S.OPEN, T0 + COOL, T0 + COOL) == event

    closed, event = half.probe(T0 + COOL, succeeded=True)
    assert S.CLOSED == closed.state
    assert isinstance(event, BreakerReset)
    assert (S.CLOSED, S.HALF_OPEN) == (event.state, event.previous)
    assert closed.opened_at is None


def test_failed_probe_reopens_and_restarts_the_cooldown() -> None:
    half, _ = CircuitBreaker("x", COOL).trip(T0, "r")[0].tick(T0 + COOL)
    later = T0 + COOL + timedelta(seconds=3)
    reopened, event = half.probe(later, succeeded=False, reason="still failing")
    assert S.OPEN == reopened.state
    assert BreakerTripped("x", "still failing", S.HALF_OPEN, later, later) == event
    assert later + COOL == reopened.reopens_at()


def test_transitions_that_do_not_apply_emit_nothing() -> None:
    closed = CircuitBreaker("x", COOL)
    assert (closed, None) == closed.tick(T0)
    assert (closed, None) == closed.probe(T0, succeeded=True)
    assert (closed, None) == closed.reset(T0)
    opened, _ = closed.trip(T0, "r")
    assert (opened, None) == opened.trip(T0 + timedelta(seconds=1), "again")
    assert (opened, None) == opened.probe(T0, succeeded=True)
    assert closed.reopens_at() is None


def test_manual_reset_closes_from_any_state() -> None:
    opened, _ = CircuitBreaker("x", COOL).trip(T0, "r")
    closed, event = opened.reset(T0)
    assert S.CLOSED == closed.state
    assert isinstance(event, BreakerReset)
    assert S.OPEN == event.previous


def test_breaker_refuses_bad_cooldown_and_naive_time() -> None:
    with pytest.raises(InvalidValue, match=r"CircuitBreaker.cooldown"):
        CircuitBreaker("x", timedelta(0))
    with pytest.raises(InvalidValue, match="now"):
        CircuitBreaker("x", COOL).trip(datetime(2024, 1, 1), "r")


# -- the board ----------------------------------------------------------------------------------
AAPL = Stock("AAPL")


def losing_portfolio(price: str) -> Portfolio:
    p = Portfolio(D(100_000))
    request = OrderRequest(ClientOrderId("B"), AAPL, Side.BUY, D(100), OrderType.MARKET)
    p.add_order(Order.from_request(request))
    p.apply(OrderLifecycleEvent(request.client_order_id, OrderEventKind.SUBMITTED, T0, T0))
    p.apply(
        ExecutionFill(request.client_order_id, ExecutionId("E"), AAPL.id, Side.BUY, D(100),
                      D(100), T0, T0)
    )  # fmt: skip
    p.start_session(T0)
    p.mark(AAPL.id, D(price), T0)
    return p


def test_board_trips_daily_loss_and_drawdown_from_the_portfolio() -> None:
    board = BreakerBoard()
    assert [] == board.observe_account(losing_portfolio("71"), T0)
    events = board.observe_account(losing_portfolio("40"), T0)
    assert {"daily_loss", "drawdown"} == {e.breaker for e in events}
    assert all(isinstance(e, BreakerTripped) for e in events)
    assert frozenset({"daily_loss", "drawdown"}) == board.open_breakers


def test_board_trips_on_a_losing_streak() -> None:
    board = BreakerBoard(BreakerConfig(max_consecutive_losses=2))
    p = Portfolio(D(1000))
    p.consecutive_losses = 2
    events = board.observe_account(p, T0)
    assert ["consecutive_losses"] == [e.breaker for e in events]
    assert S.OPEN == board.state(BreakerKind.CONSECUTIVE_LOSSES)


def test_board_half_open_breaker_closes_when_the_condition_cleared() -> None:
    board = BreakerBoard()
    board.observe_account(losing_portfolio("40"), T0)
    assert [] == board.tick(T0 + timedelta(minutes=4))
    half = board.tick(T0 + COOL)
    assert all(S.HALF_OPEN == e.state for e in half if isinstance(e, BreakerReset))
    assert 2 == len(half)
    recovered = losing_portfolio("100")
    events = board.observe_account(recovered, T0 + COOL)
    assert {S.CLOSED} == {e.state for e in events if isinstance(e, BreakerReset)}
    assert frozenset() == board.open_breakers


def test_board_half_open_breaker_reopens_when_the_condition_holds() -> None:
    board = BreakerBoard()
    losing = losing_portfolio("40")
    board.observe_account(losing, T0)
    board.tick(T0 + COOL)
    events = board.observe_account(losing, T0 + COOL)
    assert {S.HALF_OPEN} == {e.previous for e in events}
    assert all(isinstance(e, BreakerTripped) for e in events)


def test_rejection_streak_trips_and_an_acceptance_probes_it_closed() -> None:
    board = BreakerBoard(BreakerConfig(max_consecutive_rejections=2, cooldown=COOL))
    assert [] == board.observe_rejection(T0)
    assert ["consecutive_rejections"] == [e.breaker for e in board.observe_rejection(T0)]
    board.tick(T0 + COOL)
    assert S.HALF_OPEN == board.state(BreakerKind.CONSECUTIVE_REJECTIONS)
    board.observe_acceptance(T0 + COOL)
    assert S.CLOSED == board.state(BreakerKind.CONSECUTIVE_REJECTIONS)
    assert 0 == board.consecutive_rejections


def test_rejection_while_half_open_reopens() -> None:
    board = BreakerBoard(BreakerConfig(max_consecutive_rejections=3))
    for _ in range(3):
        board.observe_rejection(T0)
    board.tick(T0 + COOL)
    board.observe_acceptance(T0 + COOL)  # closes, streak reset
    for _ in range(3):
        board.observe_rejection(T0 + COOL)
    board.tick(T0 + 2 * COOL)
    assert isinstance(board.observe_rejection(T0 + 2 * COOL)[0], BreakerTripped)


def test_broker_error_rate_uses_a_sliding_window() -> None:
    cfg = BreakerConfig(max_broker_errors=3, broker_error_window=timedelta(seconds=10))
    board = BreakerBoard(cfg)
    board.observe_broker_error(T0)
    board.observe_broker_error(T0 + timedelta(seconds=5))
    assert [] == board.observe_broker_error(T0 + timedelta(seconds=11))  # the first expired
    events = board.observe_broker_error(T0 + timedelta(seconds=12))
    assert ["broker_error_rate"] == [e.breaker for e in events]
    assert "3 broker errors within 10s" in events[0].reason  # type: ignore[union-attr]


def test_broker_error_breaker_probe_success_and_failure() -> None:
    cfg = BreakerConfig(max_broker_errors=3, cooldown=COOL)
    board = BreakerBoard(cfg)
    board.trip(BreakerKind.BROKER_ERRORS, T0, "operator")
    board.tick(T0 + COOL)
    board.observe_broker_error(T0 + COOL + timedelta(hours=1))  # a failed probe
    assert S.OPEN == board.state(BreakerKind.BROKER_ERRORS)
    board.tick(T0 + 2 * COOL + timedelta(hours=1))
    assert [] != board.observe_broker_success(T0 + 2 * COOL + timedelta(hours=1))
    assert S.CLOSED == board.state(BreakerKind.BROKER_ERRORS)


def test_any_rejection_while_half_open_is_a_failed_probe() -> None:
    board = BreakerBoard()
    board.trip(BreakerKind.CONSECUTIVE_REJECTIONS, T0, "operator")
    board.tick(T0 + COOL)
    events = board.observe_rejection(T0 + COOL)  # one rejection, far below the streak limit
    assert [BreakerTripped("consecutive_rejections", events[0].reason, S.HALF_OPEN,
                           T0 + COOL, T0 + COOL)] == events  # fmt: skip


def test_data_staleness_breaker() -> None:
    board = BreakerBoard()
    assert [] == board.observe_data_age(timedelta(seconds=300), T0)
    events = board.observe_data_age(timedelta(seconds=301), T0)
    assert "301s old exceeds 300s" in events[0].reason  # type: ignore[union-attr]
    board.tick(T0 + COOL)
    board.observe_data_age(timedelta(seconds=1), T0 + COOL)
    assert S.CLOSED == board.state(BreakerKind.DATA_STALENESS)


def test_breakers_are_independent_and_per_breaker_cooldowns_apply() -> None:
    cfg = BreakerConfig(cooldowns={"data_staleness": timedelta(seconds=30)})
    board = BreakerBoard(cfg)
    board.observe_data_age(timedelta(hours=1), T0)
    board.trip(BreakerKind.DRAWDOWN, T0, "operator")
    events = board.tick(T0 + timedelta(seconds=30))
    assert [("data_staleness", S.HALF_OPEN)] == [
        (e.breaker, e.state) for e in events if isinstance(e, BreakerReset)
    ]
    assert S.OPEN == board.state(BreakerKind.DRAWDOWN)
    assert [] != board.reset(BreakerKind.DRAWDOWN, T0)
    assert S.CLOSED == board.state(BreakerKind.DRAWDOWN)


def test_disabled_breakers_never_trip() -> None:
    board = BreakerBoard(BreakerConfig(disabled={"data_staleness"}))
    assert [] == board.observe_data_age(timedelta(days=1), T0)
    assert [] == board.trip(BreakerKind.DATA_STALENESS, T0, "x")
    assert S.CLOSED == board.state(BreakerKind.DATA_STALENESS)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_consecutive_losses": 0}, "max_consecutive_losses"),
        ({"daily_loss_limit": D(-1)}, "daily_loss_limit"),
        ({"cooldown": timedelta(0)}, "cooldown"),
        ({"disabled": {"nope"}}, "disabled"),
        ({"cooldowns": {"drawdown": timedelta(0)}}, r"cooldowns\[drawdown\]"),
    ],
)
def test_breaker_config_is_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidValue, match=f"BreakerConfig.{field}"):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


# -- trading state --------------------------------------------------------------------------------
def test_trading_state_transitions_return_events() -> None:
    machine = TradingStateMachine()
    event = machine.reduce(T0, "broker 1100")
    expected = TradingStateChanged(
        TradingState.REDUCING, TradingState.ACTIVE, "broker 1100", T0, T0
    )
    assert expected == event
    assert machine.reduce(T0, "again") is None
    halted = machine.halt(T0, "operator")
    assert halted is not None
    assert TradingState.REDUCING == halted.previous
    resumed = machine.resume(T0, "ok")
    assert resumed is not None
    assert TradingState.ACTIVE == machine.state


def test_kill_switch_holds_halted_until_released_and_resumed() -> None:
    machine = TradingStateMachine()
    event = machine.engage_kill_switch(T0, "runaway strategy")
    assert event is not None
    assert "kill switch: runaway strategy" == event.reason
    with pytest.raises(KillSwitchEngaged, match="release_kill_switch"):
        machine.resume(T0, "try")
    with pytest.raises(KillSwitchEngaged):
        machine.reduce(T0, "try")
    assert machine.halt(T0, "still") is None
    machine.release_kill_switch()
    assert TradingState.HALTED == machine.state
    assert machine.resume(T0, "operator resumed") is not None
    assert TradingState.ACTIVE == machine.state
