"""Strategy C: 3 DTE, the 40% emergency stop (which outranks 3 DTE), data quarantine, loss
governors, and closing orders that never over-close."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Quote
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
    ClosureFlag,
    StrategyCConfig,
    closing_quantity,
    closure_id_factory,
    closure_requests,
    review_positions,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

# Tuesday 16 January 2024, 10:00 New York; the option expires Friday the 19th (3 days).
NOW = datetime(2024, 1, 16, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
NEAR = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)
FAR = OptionContract("AAPL", date(2024, 2, 16), Decimal(150), OptionRight.CALL)
R = ClosureReason
D = Decimal
_ids = itertools.count()


def place(p: Portfolio, instrument: Instrument, side: Side, qty: int, limit: str = "") -> str:
    cid = f"O{next(_ids)}"
    request = OrderRequest(
        ClientOrderId(cid),
        instrument,
        side,
        D(qty),
        OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=D(limit) if limit else None,
    )
    p.add_order(Order.from_request(request))
    for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, NOW, NOW))
    return cid


Holding = tuple[Instrument, Side, int, str, str]  # instrument, side, qty, fill price, mark


def hold(p: Portfolio, holding: Holding) -> None:
    instrument, side, qty, price, mark = holding
    cid = place(p, instrument, side, qty)
    p.apply(
        ExecutionFill(
            ClientOrderId(cid),
            ExecutionId(f"E{next(_ids)}"),
            instrument.id,
            side,
            D(qty),
            D(price),
            NOW,
            NOW,
        )
    )
    p.mark(instrument.id, D(mark), NOW)


def book(*positions: Holding) -> Portfolio:
    p = Portfolio(D(1_000_000))
    for position in positions:
        hold(p, position)
    p.start_session(NOW)
    return p


def reasons(p: Portfolio, **kw: object) -> dict[str, ClosureReason]:
    review = review_positions(p, NOW, **kw)  # type: ignore[arg-type]
    return {str(f.instrument_id): f.reason for f in review.flags}


def test_option_within_three_days_is_flagged_3dte() -> None:
    p = book((NEAR, Side.BUY, 2, "3.00", "3.10"), (FAR, Side.BUY, 2, "3.00", "3.10"))
    assert {str(NEAR.id): R.THREE_DTE} == reasons(p)
    assert "3_DTE_RULE" == R.THREE_DTE.value


def test_dte_uses_the_exchange_date_not_utc() -> None:
    # 2024-01-16 03:00 UTC is still Monday the 15th in New York: 4 days to expiry.
    early = datetime(2024, 1, 16, 3, 0, tzinfo=UTC)
    p = book((NEAR, Side.BUY, 1, "3.00", "3.00"))
    p.mark(NEAR.id, D(3), early)
    assert () == review_positions(p, early).flags


def test_dte_threshold_is_configurable() -> None:
    p = book((FAR, Side.BUY, 1, "3.00", "3.00"))
    assert {str(FAR.id): R.THREE_DTE} == reasons(p, config=StrategyCConfig(dte_threshold=31))


def test_emergency_stop_at_forty_percent_loss() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "60.01"), (FAR, Side.BUY, 1, "5.00", "3.00"))
    assert {str(FAR.id): R.EMERGENCY_STOP} == reasons(p)  # 40% down; AAPL only 39.99%


def test_emergency_stop_on_a_short_position() -> None:
    p = book((AAPL, Side.SELL, 10, "100", "140"))
    assert {str(AAPL.id): R.EMERGENCY_STOP} == reasons(p)


def test_emergency_stop_outranks_3dte() -> None:
    p = book((NEAR, Side.BUY, 1, "5.00", "2.00"))
    flag = review_positions(p, NOW).flags[0]
    assert R.EMERGENCY_STOP == flag.reason
    assert (R.EMERGENCY_STOP, R.THREE_DTE) == flag.reasons
    assert "days to expiry" in flag.detail


def test_emergency_stop_outranks_every_account_wide_reason() -> None:
    p = book((NEAR, Side.BUY, 1, "5.00", "2.00"), (AAPL, Side.BUY, 1, "100", "100"))
    later = NOW + timedelta(hours=1)  # every mark is stale
    review = review_positions(p, later, open_breakers={"daily_loss", "drawdown"})
    near, stock = review.flag_for(NEAR.id), review.flag_for(AAPL.id)
    assert near is not None
    assert stock is not None
    assert R.EMERGENCY_STOP == near.reason
    expected = (R.EMERGENCY_STOP, R.DAILY_LOSS_LIMIT, R.DRAWDOWN_GOVERNOR, R.DATA_QUARANTINE)
    assert (*expected, R.THREE_DTE) == near.reasons
    assert expected[1:] == stock.reasons


def test_stale_data_quarantines_every_position() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "100"), (FAR, Side.BUY, 1, "3.00", "3.00"))
    later = NOW + timedelta(seconds=301)
    fresh = Quote(AAPL.id, later, last=D(100))
    review = review_positions(p, later, quotes={AAPL.id: fresh})
    assert review.data_quarantine
    assert (FAR.id,) == review.quarantined
    assert {R.DATA_QUARANTINE} == {f.reason for f in review.flags}
    assert 2 == len(review.flags)


def test_data_exactly_at_the_limit_is_not_stale() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "100"))
    review = review_positions(p, NOW + timedelta(seconds=300))
    assert not review.data_quarantine
    assert () == review.flags


def test_position_without_any_mark_is_quarantined() -> None:
    p = Portfolio(D(10_000))
    cid = place(p, AAPL, Side.BUY, 1)
    fill = ExecutionFill(
        ClientOrderId(cid), ExecutionId("X"), AAPL.id, Side.BUY, D(1), D(100), NOW, NOW
    )
    p.apply(fill)
    assert {str(AAPL.id): R.DATA_QUARANTINE} == reasons(p)


def test_quote_without_price_falls_back_to_the_mark() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    empty = Quote(AAPL.id, NOW)
    assert {str(AAPL.id): R.EMERGENCY_STOP} == reasons(p, quotes={AAPL.id: empty})


@pytest.mark.parametrize(
    ("breaker", "reason"), [("daily_loss", R.DAILY_LOSS_LIMIT), ("drawdown", R.DRAWDOWN_GOVERNOR)]
)
def test_open_loss_breakers_flag_everything(breaker: str, reason: ClosureReason) -> None:
    p = book((AAPL, Side.BUY, 10, "100", "100"), (FAR, Side.BUY, 1, "3.00", "3.00"))
    assert {reason} == set(reasons(p, open_breakers={breaker}).values())
    assert 2 == len(reasons(p, open_breakers={breaker}))


def test_configured_loss_limits_flag_everything() -> None:
    p = book((AAPL, Side.BUY, 1000, "100", "100"))
    p.mark(AAPL.id, D(96), NOW)  # equity 1,000,000 → 996,000: 0.4% down
    config = StrategyCConfig(daily_loss_limit=D("0.004"), max_drawdown=D("0.004"))
    flag = review_positions(p, NOW, config).flags[0]
    assert (R.DAILY_LOSS_LIMIT, R.DRAWDOWN_GOVERNOR) == flag.reasons
    lenient = StrategyCConfig(daily_loss_limit=D("0.005"), max_drawdown=D("0.005"))
    assert () == review_positions(p, NOW, lenient).flags


def test_flat_positions_are_never_flagged() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "100"), (AAPL, Side.SELL, 10, "100", "100"))
    assert () == review_positions(p, NOW, open_breakers={"daily_loss"}).flags


def test_config_is_validated() -> None:
    with pytest.raises(InvalidValue, match=r"StrategyCConfig\.emergency_loss_pct"):
        StrategyCConfig(emergency_loss_pct=D(0))
    with pytest.raises(InvalidValue, match=r"StrategyCConfig\.dte_threshold"):
        StrategyCConfig(dte_threshold=-1)
    with pytest.raises(InvalidValue, match=r"StrategyCConfig\.stale_after_seconds"):
        StrategyCConfig(stale_after_seconds=30.0)  # type: ignore[arg-type]


# -- closing orders -----------------------------------------------------------------------------
IDS = closure_id_factory("SC", NOW)


def test_closure_order_closes_the_whole_open_position() -> None:
    p = book((NEAR, Side.BUY, 3, "5.00", "2.00"))
    (request,) = closure_requests(review_positions(p, NOW).flags, p, id_factory=IDS)
    assert (Side.SELL, D(3), OrderType.MARKET) == (
        request.side,
        request.quantity,
        request.order_type,
    )
    assert OrderIntent.CLOSE == request.intent
    assert R.EMERGENCY_STOP == request.closure_reason
    assert ClientOrderId(f"SC-EMERGENCY_STOP-AAPL240119C00150000-{NOW:%Y%m%dT%H%M%S%f}") == (
        request.client_order_id
    )


def test_closure_of_a_short_buys_back() -> None:
    p = book((AAPL, Side.SELL, 10, "100", "150"))
    (request,) = closure_requests(review_positions(p, NOW).flags, p, id_factory=IDS)
    assert (Side.BUY, D(10)) == (request.side, request.quantity)


def test_closure_is_net_of_closing_orders_already_working() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    place(p, AAPL, Side.SELL, 4, "55")
    place(p, AAPL, Side.BUY, 7, "45")  # adds to the position: does not reduce what is closable
    assert D(6) == closing_quantity(p, AAPL.id)
    (request,) = closure_requests(review_positions(p, NOW).flags, p, id_factory=IDS)
    assert D(6) == request.quantity


def test_fully_covered_position_gets_no_closure_order() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    place(p, AAPL, Side.SELL, 10, "55")
    assert () == closure_requests(review_positions(p, NOW).flags, p, id_factory=IDS)
    assert D(0) == closing_quantity(p, Stock("MSFT").id)


def test_closure_requests_skip_positions_closed_since_the_review() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    stale_flag = ClosureFlag(Stock("MSFT").id, D(5), R.MANUAL, (R.MANUAL,), "gone")
    flags = (*review_positions(p, NOW).flags, stale_flag)
    assert 1 == len(closure_requests(flags, p, id_factory=IDS, operator_id="OP"))


def test_closure_ids_are_deterministic() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    flags = review_positions(p, NOW).flags
    first = closure_requests(flags, p, id_factory=closure_id_factory("SC", NOW))
    again = closure_requests(flags, p, id_factory=closure_id_factory("SC", NOW))
    assert first == again


def test_closure_ids_skip_ids_already_taken() -> None:
    base = ClientOrderId(f"SC-MANUAL-AAPL-{NOW:%Y%m%dT%H%M%S%f}")
    taken = {base, ClientOrderId(f"{base}-2")}
    assert base == closure_id_factory("SC", NOW)(AAPL.id, R.MANUAL)
    assert ClientOrderId(f"{base}-3") == closure_id_factory("SC", NOW, taken)(AAPL.id, R.MANUAL)


def test_review_can_look_up_a_flag() -> None:
    p = book((AAPL, Side.BUY, 10, "100", "50"))
    review = review_positions(p, NOW)
    assert review.flag_for(AAPL.id) is review.flags[0]
    assert review.flag_for(FAR.id) is None


def test_dte_flag_says_the_trading_sessions_left_with_a_calendar() -> None:
    from ordergate.adapters.calendar.xnys import xnys_calendar

    p = book((NEAR, Side.BUY, 1, "3.00", "3.10"))
    flag = review_positions(p, NOW, calendar=xnys_calendar()).flags[0]
    assert R.THREE_DTE == flag.reason
    assert "3 trading sessions of XNYS" in flag.detail
