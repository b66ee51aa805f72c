"""Strategy C over random books: the emergency stop outranks every other reason, stale data
flags everything, and closing orders never over-close whatever orders are already working."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.orders import (
    ClosureReason,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.strategy_c import (
    StrategyCConfig,
    closing_quantity,
    closure_id_factory,
    closure_requests,
    review_positions,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

NOW = datetime(2024, 1, 16, 15, 0, tzinfo=UTC)
INSTRUMENTS: tuple[Instrument, ...] = (
    Stock("AAPL"),
    Stock("MSFT", size_increment=Decimal(10)),
    OptionContract("AAPL", date(2024, 1, 17), Decimal(150), OptionRight.CALL),
    OptionContract("AAPL", date(2024, 1, 19), Decimal(155), OptionRight.PUT),
    OptionContract("MSFT", date(2024, 2, 16), Decimal(400), OptionRight.CALL),
)
D = Decimal
R = ClosureReason
prices = st.integers(5, 20_000).map(lambda c: D(c) / 100)


def _submit(p: Portfolio, request: OrderRequest) -> None:
    p.add_order(Order.from_request(request))
    for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, NOW, NOW))


@st.composite
def books(draw: st.DrawFn) -> Portfolio:
    """Random positions, marks of random age, and random working orders on either side."""
    p = Portfolio(D(1_000_000))
    trades = draw(st.lists(st.tuples(st.integers(0, 4), st.sampled_from(Side), st.integers(1, 30))))
    for n, (i, side, lots) in enumerate(trades):
        instrument = INSTRUMENTS[i]
        qty = lots * instrument.size_increment
        request = OrderRequest(ClientOrderId(f"F{n}"), instrument, side, qty, OrderType.MARKET)
        _submit(p, request)
        p.apply(
            ExecutionFill(
                request.client_order_id,
                ExecutionId(f"E{n}"),
                instrument.id,
                side,
                qty,
                draw(prices),
                NOW,
                NOW,
            )
        )
    for instrument in INSTRUMENTS:
        if draw(st.integers(0, 9)):  # mostly marked, sometimes never
            age = draw(st.sampled_from([0, 10, 299, 300, 301, 3600]))
            p.mark(instrument.id, draw(prices), NOW - timedelta(seconds=age))
    working = draw(
        st.lists(st.tuples(st.integers(0, 4), st.sampled_from(Side), st.integers(1, 30)))
    )
    for n, (i, side, lots) in enumerate(working):
        instrument = INSTRUMENTS[i]
        request = OrderRequest(
            ClientOrderId(f"W{n}"),
            instrument,
            side,
            lots * instrument.size_increment,
            OrderType.LIMIT,
            limit_price=D(1),
        )
        _submit(p, request)
    return p


def stale(p: Portfolio, config: StrategyCConfig) -> bool:
    for position in p.open_positions():
        ts = p.mark_times.get(position.instrument_id)
        if ts is None or (NOW - ts).total_seconds() > config.stale_after_seconds:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    p=books(),
    dte=st.integers(0, 5),
    loss=st.integers(1, 100),
    breakers=st.frozensets(st.sampled_from(["daily_loss", "drawdown", "broker_error_rate"])),
)
def test_flags_follow_the_rules_with_emergency_priority(
    p: Portfolio, dte: int, loss: int, breakers: frozenset[str]
) -> None:
    config = StrategyCConfig(dte_threshold=dte, emergency_loss_pct=D(loss) / 100)
    review = review_positions(p, NOW, config, open_breakers=breakers)
    quarantine = stale(p, config)
    governors = {"daily_loss", "drawdown"} & breakers
    assert quarantine == review.data_quarantine
    flagged = {f.instrument_id: f for f in review.flags}
    for position in p.open_positions():
        mark = p.marks.get(position.instrument_id)
        emergency = mark is not None and position.unrealized_pct(mark) <= -config.emergency_loss_pct
        days = position.days_to_expiry(NOW)
        near = days is not None and days <= dte
        flag = flagged.pop(position.instrument_id, None)
        if not (emergency or near or quarantine or governors):
            assert flag is None
            continue
        assert flag is not None
        assert position.quantity == flag.quantity
        assert emergency == (R.EMERGENCY_STOP in flag.reasons)
        assert near == (R.THREE_DTE in flag.reasons)
        assert quarantine == (R.DATA_QUARANTINE in flag.reasons)
        assert ("daily_loss" in breakers) == (R.DAILY_LOSS_LIMIT in flag.reasons)
        assert ("drawdown" in breakers) == (R.DRAWDOWN_GOVERNOR in flag.reasons)
        if emergency:
            assert R.EMERGENCY_STOP == flag.reason
        assert flag.reason == flag.reasons[0]
    assert {} == flagged  # no flag for a flat position


@settings(max_examples=300, deadline=None)
@given(p=books(), breaker=st.sampled_from(["daily_loss", "drawdown"]))
def test_closures_never_over_close_for_any_working_orders(p: Portfolio, breaker: str) -> None:
    review = review_positions(p, NOW, open_breakers={breaker})
    assert len(review.flags) == sum(1 for _ in p.open_positions())
    requests = closure_requests(review.flags, p, id_factory=closure_id_factory("SC", NOW))
    assert len({r.client_order_id for r in requests}) == len(requests)
    for request in requests:
        iid = request.instrument.id
        qty = p.position_qty(iid)
        assert request.side is (Side.SELL if qty > 0 else Side.BUY)
        already = p.working_qty(iid, request.side)
        assert request.quantity <= abs(qty) - already
        assert abs(qty) - already - request.quantity < request.instrument.size_increment
        assert OrderIntent.CLOSE == request.intent
        assert request.closure_reason in (R.DAILY_LOSS_LIMIT, R.DRAWDOWN_GOVERNOR, R.EMERGENCY_STOP)
        _submit(p, request)
        assert closing_quantity(p, iid) < request.instrument.size_increment
    requested = {r.instrument.id for r in requests}
    for position in p.open_positions():
        if position.instrument_id not in requested:
            assert closing_quantity(p, position.instrument_id) < position.instrument.size_increment
