"""Breaker transitions follow CLOSED → OPEN → HALF_OPEN → CLOSED with cooldowns, for any
sequence of trips, ticks, probes and observations; every transition is reported exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.events import BreakerReset, BreakerTripped
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk import (
    BreakerBoard,
    BreakerConfig,
    BreakerEvent,
    BreakerKind,
    BreakerState,
    CircuitBreaker,
)

T0 = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
S = BreakerState
AUTOMATIC = {
    (S.CLOSED, S.OPEN),
    (S.OPEN, S.HALF_OPEN),
    (S.HALF_OPEN, S.CLOSED),
    (S.HALF_OPEN, S.OPEN),
}

operations = st.lists(
    st.tuples(
        st.sampled_from(["trip", "tick", "probe_ok", "probe_fail", "reset"]),
        st.integers(0, 400),  # seconds to advance before the operation
    ),
    max_size=60,
)


def check_event(
    before: CircuitBreaker, after: CircuitBreaker, event: BreakerEvent | None, now: datetime
) -> None:
    if event is None:
        assert before == after
        return
    assert before.state == event.previous
    assert now == event.ts_event
    if isinstance(event, BreakerTripped):
        assert S.OPEN == after.state
        assert now == after.opened_at
    else:
        assert after.state == event.state


@settings(max_examples=300, deadline=None)
@given(ops=operations, cooldown=st.integers(1, 600))
def test_breaker_transitions_follow_the_cycle_with_cooldowns(
    ops: list[tuple[str, int]], cooldown: int
) -> None:
    breaker = CircuitBreaker("b", timedelta(seconds=cooldown))
    now = T0
    for op, advance in ops:
        now += timedelta(seconds=advance)
        before = breaker
        if op == "trip":
            breaker, event = breaker.trip(now, "condition")
        elif op == "tick":
            breaker, event = breaker.tick(now)
        elif op == "reset":
            breaker, event = breaker.reset(now)
        else:
            breaker, event = breaker.probe(now, succeeded=op == "probe_ok")
        check_event(before, breaker, event, now)
        moved = (before.state, breaker.state)
        if op == "reset":
            assert S.CLOSED == breaker.state
        elif event is not None:
            assert moved in AUTOMATIC
        if moved == (S.OPEN, S.HALF_OPEN):
            assert before.opened_at is not None
            assert now - before.opened_at >= timedelta(seconds=cooldown)
        if before.state is S.OPEN and op == "tick" and before.opened_at is not None:
            waited = now - before.opened_at >= timedelta(seconds=cooldown)
            assert waited == (S.HALF_OPEN == breaker.state)
        if op == "probe_ok" and before.state is S.HALF_OPEN:
            assert S.CLOSED == breaker.state
        if op == "probe_fail" and before.state is S.HALF_OPEN:
            assert S.OPEN == breaker.state


observations = st.lists(
    st.one_of(
        st.tuples(st.just("loss"), st.integers(-20, 100)),  # percent of equity lost
        st.tuples(st.just("age"), st.integers(0, 1000)),  # seconds
        st.tuples(st.sampled_from(["reject", "accept", "error", "ok", "tick"]), st.just(0)),
    ).flatmap(lambda obs: st.tuples(st.just(obs), st.integers(0, 200))),
    max_size=60,
)


def losing(percent: int) -> Portfolio:
    p = Portfolio(Decimal(100_000))
    p.cash = Decimal(100_000 - 1000 * percent)  # loses percent% since the session began
    p.consecutive_losses = max(0, percent // 10)
    return p


@settings(max_examples=300, deadline=None)
@given(obs=observations)
def test_board_reports_every_transition_and_waits_out_cooldowns(
    obs: list[tuple[tuple[str, int], int]],
) -> None:
    cooldown = timedelta(seconds=120)
    board = BreakerBoard(BreakerConfig(cooldown=cooldown, max_broker_errors=3))
    opened_at: dict[str, datetime] = {}
    now = T0
    for (kind, value), advance in obs:
        now += timedelta(seconds=advance)
        before = {k.value: board.state(k) for k in BreakerKind}
        events = observe(board, kind, value, now)
        after = {k.value: board.state(k) for k in BreakerKind}
        changed = {name for name in before if before[name] != after[name]}
        assert changed <= {e.breaker for e in events}
        for event in events:
            assert before[event.breaker] == event.previous
            assert (before[event.breaker], after[event.breaker]) in AUTOMATIC
            if isinstance(event, BreakerTripped):
                opened_at[event.breaker] = now
            elif event.state is S.HALF_OPEN:
                assert now - opened_at[event.breaker] >= cooldown
        assert board.open_breakers == {n for n, s in after.items() if s is not S.CLOSED}


def observe(board: BreakerBoard, kind: str, value: int, now: datetime) -> list[BreakerEvent]:
    if kind == "loss":
        return board.observe_account(losing(value), now)
    if kind == "age":
        return board.observe_data_age(timedelta(seconds=value), now)
    actions = {
        "reject": board.observe_rejection,
        "accept": board.observe_acceptance,
        "error": board.observe_broker_error,
        "ok": board.observe_broker_success,
        "tick": board.tick,
    }
    events = actions[kind](now)
    assert all(isinstance(e, BreakerTripped | BreakerReset) for e in events)
    return events
