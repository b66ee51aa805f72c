"""Options at expiry in the domain: `settle_option` decides exercise, assignment or lapse at IB's
$0.01 threshold; the portfolio removes the contracts, delivers the stock at the strike, keeps
the cash identity, and applies each settlement id once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import (
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
)
from ordergate.domain.expiry import settle_option, settlement_time
from ordergate.domain.instruments import OptionContract, OptionRight
from ordergate.domain.orders import ExecutionFill
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.values import ClientOrderId, ExecutionId, InstrumentId, Side

D = Decimal
T0 = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)
AT = datetime(2024, 7, 19, 20, 0, tzinfo=UTC)
CALL = OptionContract("AAPL", date(2024, 7, 19), D(200), OptionRight.CALL)
PUT = OptionContract("AAPL", date(2024, 7, 19), D(200), OptionRight.PUT)
AAPL = InstrumentId("AAPL")


def holding(contract: OptionContract, qty: int, price: str = "5") -> Portfolio:
    p = Portfolio(D(100_000))
    p.register_instrument(contract)
    side = Side.BUY if qty > 0 else Side.SELL
    p.apply(
        ExecutionFill(ClientOrderId("O"), ExecutionId("E1"), contract.id, side, D(abs(qty)),
                      D(price), T0, T0, D(1))
    )
    return p


def settle(contract: OptionContract, qty: int, spot: str) -> OptionSettlement:
    return settle_option(settlement=f"S-{contract.symbol}", option=contract, quantity=D(qty),
                         underlying_price=D(spot), ts=AT)


def identity(p: Portfolio) -> bool:
    return p.cash + p.market_value() == (
        p.starting_cash + p.realized_pnl() + p.unrealized_pnl() - p.total_commissions
    )


def test_long_itm_call_is_exercised_into_stock_at_the_strike() -> None:
    p = holding(CALL, 2)
    event = settle(CALL, 2, "210")
    assert isinstance(event, OptionExercised)
    assert D(200) == event.shares
    assert p.apply(event)
    assert D(0) == p.position_qty(CALL.id)
    assert D(200) == p.position_qty(AAPL)
    assert D(100_000) - D(1000) - D(1) - D(40_000) == p.cash
    assert D(-1000) == p.position(CALL.id).realized_pnl  # type: ignore[union-attr]
    assert identity(p)


def test_long_itm_put_is_exercised_by_selling_stock() -> None:
    p = holding(PUT, 1)
    event = settle(PUT, 1, "190")
    assert isinstance(event, OptionExercised)
    assert p.apply(event)
    assert D(-100) == p.position_qty(AAPL)
    assert D(100_000) - D(500) - D(1) + D(20_000) == p.cash
    assert identity(p)


def test_short_itm_call_is_assigned() -> None:
    p = holding(CALL, -1)
    event = settle(CALL, -1, "200.01")
    assert isinstance(event, OptionAssigned)
    assert p.apply(event)
    assert D(-100) == p.position_qty(AAPL)
    assert D(0) == p.position_qty(CALL.id)
    assert identity(p)


def test_otm_and_at_the_money_options_expire() -> None:
    for spot in ("200", "199.99", "200.009"):
        p = holding(CALL, 1)
        event = settle(CALL, 1, spot)
        assert isinstance(event, OptionExpired), spot
        assert p.apply(event)
        assert D(0) == p.position_qty(CALL.id)
        assert AAPL not in p.positions
        assert D(100_000) - D(500) - D(1) == p.cash
        assert identity(p)


def test_a_settlement_is_applied_once() -> None:
    p = holding(CALL, 1)
    event = settle(CALL, 1, "210")
    assert p.apply(event)
    cash = p.cash
    assert not p.apply(event)
    assert cash == p.cash
    assert D(100) == p.position_qty(AAPL)


def test_a_settlement_for_another_quantity_is_refused_by_name() -> None:
    p = holding(CALL, 1)
    with pytest.raises(InvalidValue, match=r"open position of .* which is 1"):
        p.apply(settle(CALL, 3, "210"))
    assert D(1) == p.position_qty(CALL.id)


def test_settle_option_refuses_bad_input() -> None:
    with pytest.raises(InvalidValue, match="non-zero"):
        settle(CALL, 0, "210")
    with pytest.raises(InvalidValue, match="positive"):
        settle(CALL, 1, "0")
    with pytest.raises(InvalidValue, match="non-negative"):
        settle_option(settlement="S", option=CALL, quantity=D(1), underlying_price=D(1), ts=AT,
                      threshold=D(-1))


def test_settlement_time_is_the_expiry_session_close() -> None:
    xnys = xnys_calendar()
    assert datetime(2024, 7, 19, 20, 0, tzinfo=UTC) == settlement_time(CALL, xnys)
    early = OptionContract("AAPL", date(2024, 7, 3), D(200), OptionRight.CALL)
    assert datetime(2024, 7, 3, 17, 0, tzinfo=UTC) == settlement_time(early, xnys)


def test_settlement_events_refuse_bad_values_by_name() -> None:
    with pytest.raises(InvalidValue, match="non-empty id"):
        OptionExpired(" ", CALL, D(1), None, AT, AT)
    with pytest.raises(InvalidValue, match="non-zero Decimal"):
        OptionExpired("S", CALL, D(0), None, AT, AT)
    with pytest.raises(InvalidValue, match="must be > 0"):
        OptionExpired("S", CALL, D(1), D(-1), AT, AT)
