"""Positions and the portfolio: average cost, realized PnL, flips, options, day trades."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.domain.errors import DuplicateExecution, UnknownOrder
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import CommissionReport, ExecutionFill, Order, OrderRequest, OrderType
from ordergate.domain.orders.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.portfolio import Portfolio, Position
from ordergate.domain.values import ClientOrderId, ExecutionId, InstrumentId, Side

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)  # a Monday, 10:00 New York
AAPL = Stock("AAPL")
CALL = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)
_ids = itertools.count(1)


def fill(
    side: Side,
    qty: int | str,
    px: str,
    instrument: Stock | OptionContract = AAPL,
    *,
    ts: datetime = T0,
    commission: str | None = None,
    exec_id: str | None = None,
) -> ExecutionFill:
    n = next(_ids)
    return ExecutionFill(
        ClientOrderId(f"C{n}"),
        ExecutionId(exec_id or f"E{n}"),
        instrument.id,
        side,
        Decimal(qty),
        Decimal(px),
        ts,
        ts,
        commission=None if commission is None else Decimal(commission),
    )


def test_average_cost_and_realized_pnl() -> None:
    pos = Position(AAPL)
    pos.apply(fill(Side.BUY, 100, "10"))
    pos.apply(fill(Side.BUY, 100, "12"))
    assert pos.avg_open_price == Decimal(11)
    realized = pos.apply(fill(Side.SELL, 50, "13"))
    assert realized == Decimal(100)
    assert pos.quantity == Decimal(150)
    assert pos.avg_open_price == Decimal(11)
    assert pos.unrealized_pnl(Decimal(10)) == Decimal(-150)


def test_flip_from_long_to_short_opens_rest_at_fill_price() -> None:
    pos = Position(AAPL)
    pos.apply(fill(Side.BUY, 10, "10"))
    realized = pos.apply(fill(Side.SELL, 15, "12"))
    assert realized == Decimal(20)
    assert pos.quantity == Decimal(-5)
    assert pos.avg_open_price == Decimal(12)
    assert pos.unrealized_pnl(Decimal(11)) == Decimal(5)


def test_short_position_pnl() -> None:
    pos = Position.from_fills(AAPL, [fill(Side.SELL, 10, "20"), fill(Side.BUY, 4, "18")])
    assert pos.realized_pnl == Decimal(8)
    assert pos.quantity == Decimal(-6)
    assert pos.unrealized_pct(Decimal(22)) == Decimal("-0.1")


def test_option_position_uses_multiplier_and_days_to_expiry() -> None:
    pos = Position(CALL)
    pos.apply(fill(Side.BUY, 2, "3.00", CALL))
    assert pos.cost_basis == Decimal(600)
    assert pos.unrealized_pnl(Decimal("1.80")) == Decimal(-240)
    assert pos.unrealized_pct(Decimal("1.80")) == Decimal("-0.4")
    assert pos.days_to_expiry(datetime(2024, 1, 16, 15, tzinfo=UTC)) == 3
    assert Position(AAPL).days_to_expiry(T0) is None


def test_duplicate_fill_is_ignored_and_conflict_raises() -> None:
    pos = Position(AAPL)
    f = fill(Side.BUY, 10, "10")
    pos.apply(f)
    assert pos.apply(f) == 0
    assert pos.quantity == Decimal(10)
    conflicting = ExecutionFill(
        f.client_order_id, f.execution_id, f.instrument_id, Side.BUY, Decimal(11), f.price, T0, T0
    )
    with pytest.raises(DuplicateExecution):
        pos.apply(conflicting)


def portfolio() -> Portfolio:
    p = Portfolio(Decimal(100_000))
    p.register_instrument(AAPL)
    p.register_instrument(CALL)
    return p


def test_cash_identity_with_commissions() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 100, "10", commission="1"))
    p.apply(fill(Side.SELL, 40, "12", commission="1"))
    p.mark(AAPL.id, Decimal(11), T0)
    assert p.cash == Decimal(100_000) - 1000 - 1 + 480 - 1
    assert p.realized_pnl() == Decimal(80)
    assert p.unrealized_pnl() == Decimal(60)
    assert p.equity() == p.starting_cash + p.realized_pnl() + p.unrealized_pnl() - 2


def test_commission_before_fill_is_held_then_charged_once() -> None:
    p = portfolio()
    report = CommissionReport(ExecutionId("X1"), Decimal("1.5"), T0, T0)
    assert p.apply(report)
    assert not p.apply(report)
    assert p.cash == Decimal(100_000)
    p.apply(fill(Side.BUY, 1, "10", exec_id="X1"))
    assert p.total_commissions == Decimal("1.5")
    assert p.positions[AAPL.id].commissions == Decimal("1.5")
    assert not p.apply(report)
    assert p.total_commissions == Decimal("1.5")


def test_fill_for_unknown_instrument_needs_registration() -> None:
    p = Portfolio(Decimal(1000))
    with pytest.raises(UnknownOrder, match="register_instrument"):
        p.apply(fill(Side.BUY, 1, "10"))


def test_working_orders_count_toward_worst_case() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 100, "10"))
    order = Order.from_request(
        OrderRequest(
            client_order_id=ClientOrderId("W1"),
            instrument=AAPL,
            side=Side.BUY,
            quantity=Decimal(50),
            order_type=OrderType.LIMIT,
            limit_price=Decimal(9),
        )
    )
    p.add_order(order)
    assert p.worst_case_position(AAPL.id) == (Decimal(100), Decimal(100))
    order.apply(OrderLifecycleEvent(order.client_order_id, OrderEventKind.SUBMITTED, T0, T0))
    assert p.worst_case_position(AAPL.id) == (Decimal(150), Decimal(100))
    assert p.reserved_cash() == Decimal(450)
    assert p.available_funds() == p.cash - 450
    assert list(p.working_orders(InstrumentId("MSFT"))) == []


def test_day_trades_counted_in_five_business_days() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 10, "10", ts=T0))
    p.apply(fill(Side.SELL, 10, "11", ts=T0 + timedelta(hours=1)))
    p.apply(fill(Side.BUY, 10, "10", ts=T0 + timedelta(days=1)))
    p.apply(fill(Side.SELL, 5, "11", ts=T0 + timedelta(days=2)))  # opened yesterday: no day trade
    assert p.day_trades_within(T0 + timedelta(days=2)) == 1
    assert p.day_trades_within(T0 + timedelta(days=9)) == 0


def test_session_pnl_and_week_high_drawdown() -> None:
    p = portfolio()
    p.start_session(T0)
    p.apply(fill(Side.BUY, 100, "100"))
    p.mark(AAPL.id, Decimal(110), T0)
    assert p.week_high_equity == Decimal(101_000)
    p.mark(AAPL.id, Decimal(90), T0)
    assert p.session_pnl() == Decimal(-1000)
    assert p.drawdown_from_week_high() == Decimal(2000) / Decimal(101_000)
    p.start_session(T0 + timedelta(days=7))  # a new week resets the high-water mark
    assert p.week_high_equity == p.equity()


def test_consecutive_losses_reset_on_a_win() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 10, "10"))
    p.apply(fill(Side.SELL, 5, "9"))
    p.apply(fill(Side.SELL, 5, "9"))
    assert p.consecutive_losses == 2
    p.apply(fill(Side.BUY, 10, "10"))
    p.apply(fill(Side.SELL, 10, "11"))
    assert p.consecutive_losses == 0


def test_order_lookup_and_lifecycle_events_route_to_the_order() -> None:
    p = portfolio()
    order = Order.from_request(
        OrderRequest(
            client_order_id=ClientOrderId("R1"),
            instrument=AAPL,
            side=Side.SELL,
            quantity=Decimal(5),
            order_type=OrderType.MARKET,
        )
    )
    p.add_order(order)
    assert p.order(ClientOrderId("R1")) is order
    with pytest.raises(UnknownOrder, match="no order NOPE"):
        p.order(ClientOrderId("NOPE"))
    assert p.apply(OrderLifecycleEvent(ClientOrderId("R1"), OrderEventKind.SUBMITTED, T0, T0))
    f = ExecutionFill(
        ClientOrderId("R1"),
        ExecutionId("R1-1"),
        AAPL.id,
        Side.SELL,
        Decimal(5),
        Decimal(10),
        T0,
        T0,
    )
    assert p.apply(f)
    assert order.filled_qty == Decimal(5)
    # The same execution repeated with its commission attached charges the commission once.
    assert p.apply(
        ExecutionFill(
            ClientOrderId("R1"),
            ExecutionId("R1-1"),
            AAPL.id,
            Side.SELL,
            Decimal(5),
            Decimal(10),
            T0,
            T0,
            commission=Decimal("0.5"),
        )
    )
    assert p.total_commissions == Decimal("0.5")
    assert order.commission == Decimal("0.5")
    assert not p.apply(f)
    assert p.net_notional() == p.market_value()
    assert [pos.instrument_id for pos in p.open_positions()] == [AAPL.id]
    assert p.position(AAPL.id) is p.positions[AAPL.id]
    assert set(p.instruments()) == {AAPL, CALL}


def test_gross_notional_and_marks_fall_back_to_average_price() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 10, "100"))
    p.apply(fill(Side.SELL, 2, "4.00", CALL))
    assert p.mark_of(AAPL.id) == Decimal(100)
    assert p.gross_notional() == Decimal(1000) + Decimal(800)
    p.mark(CALL.id, Decimal(5), T0)
    assert p.gross_notional() == Decimal(1000) + Decimal(1000)
    assert p.unrealized_pnl() == Decimal(-200)
    assert p.mark_of(InstrumentId("MSFT")) is None


def test_flip_records_a_new_opening_for_day_trades() -> None:
    p = portfolio()
    p.apply(fill(Side.BUY, 10, "10", ts=T0))
    p.apply(fill(Side.SELL, 15, "11", ts=T0 + timedelta(days=1)))  # flips short on day 2
    p.apply(fill(Side.BUY, 5, "10", ts=T0 + timedelta(days=1, hours=1)))  # closes same day
    assert p.day_trades_within(T0 + timedelta(days=1)) == 1


def test_drawdown_is_zero_without_positive_high_water_mark() -> None:
    p = Portfolio(Decimal(0))
    assert p.drawdown_from_week_high() == 0
