"""The exchange calendar (XNYS from `exchange_calendars`, as the domain's `TradingCalendar`) and
everything that counts trading days with it: the pattern-day-trader window, DAY-order expiry in
the simulator and the IBKR adapter, the bundled bars."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.ibkr.orders import session_close
from ordergate.adapters.sim.bars import BUNDLED_SYMBOLS, load_bundled_daily_bars
from ordergate.adapters.sim.scenario import Scenario
from ordergate.application.desk import TradingDesk
from ordergate.domain.calendar import CalendarRangeError, Session, TradingCalendar
from ordergate.domain.errors import InvalidValue
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
from ordergate.domain.risk import RiskCode, RiskLimits
from ordergate.domain.risk.rules_account import check_pattern_day_trader
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

NY = ZoneInfo("America/New_York")
XNYS = xnys_calendar()
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
D = Decimal
K = OrderEventKind
_ids = itertools.count()


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(UTC)


# -- the calendar value -----------------------------------------------------------------------
def test_xnys_holidays_come_from_the_library() -> None:
    for holiday in (
        date(2024, 11, 28),  # Thanksgiving
        date(2024, 3, 29),  # Good Friday
        date(2024, 7, 4),
        date(2008, 12, 25),
        date(2012, 7, 4),
        date(2012, 10, 29),  # Hurricane Sandy
        date(2012, 10, 30),
    ):
        assert XNYS.is_holiday(holiday), holiday
        assert XNYS.session(holiday) is None
    assert XNYS.is_session(date(2024, 11, 29))
    assert not XNYS.is_session(date(2024, 11, 30))  # Saturday: not a session, not a holiday
    assert not XNYS.is_holiday(date(2024, 11, 30))


def test_early_closes_are_at_13_new_york() -> None:
    for day in (date(2024, 7, 3), date(2024, 11, 29), date(2024, 12, 24), date(2012, 7, 3)):
        session = XNYS.session(day)
        assert session is not None
        assert ny(day, 13) == session.close
        assert ny(day, 9, 30) == session.open
        assert XNYS.is_early_close(day)
    assert not XNYS.is_early_close(date(2024, 7, 2))
    assert date(2024, 7, 3) in {s.day for s in XNYS.early_closes()}


def test_five_business_days_skip_thanksgiving_and_good_friday() -> None:
    assert (
        date(2024, 12, 2),
        date(2024, 11, 29),
        date(2024, 11, 27),
        date(2024, 11, 26),
        date(2024, 11, 25),
    ) == XNYS.previous_sessions(date(2024, 12, 2), 5)
    assert date(2024, 3, 27) in XNYS.previous_sessions(date(2024, 4, 3), 5)


def test_session_for_an_order_on_a_holiday_is_the_next_one() -> None:
    assert ny(date(2024, 11, 29), 13) == XNYS.close_after(ny(date(2024, 11, 28), 10))
    assert ny(date(2024, 4, 1), 16) == XNYS.close_after(ny(date(2024, 3, 29), 11))
    assert ny(date(2024, 7, 5), 16) == XNYS.close_after(ny(date(2024, 7, 3), 13))  # at the close


def test_sessions_between_counts_trading_days() -> None:
    assert 2 == XNYS.sessions_between(date(2024, 11, 26), date(2024, 11, 29))
    assert -2 == XNYS.sessions_between(date(2024, 11, 29), date(2024, 11, 26))


def test_a_day_outside_the_calendar_is_refused_by_name() -> None:
    small = xnys_calendar(date(2024, 1, 2), date(2024, 12, 31))
    with pytest.raises(CalendarRangeError) as caught:
        small.is_session(date(2025, 1, 2))
    assert "2025-01-02" in str(caught.value)
    assert "covers 2024-01-02 to 2024-12-31" in str(caught.value)


def test_calendar_refuses_unordered_sessions() -> None:
    one = Session(date(2024, 1, 3), ny(date(2024, 1, 3), 9, 30), ny(date(2024, 1, 3), 16))
    two = Session(date(2024, 1, 2), ny(date(2024, 1, 2), 9, 30), ny(date(2024, 1, 2), 16))
    with pytest.raises(InvalidValue, match="ascending"):
        TradingCalendar("X", "America/New_York", date(2024, 1, 1), date(2024, 1, 31), (one, two))


def test_bundled_bars_trade_exactly_on_xnys_sessions() -> None:
    """2008 and 2012 holidays and the Sandy closure have no bars; every session has one."""
    for symbol in BUNDLED_SYMBOLS:
        bars = load_bundled_daily_bars(symbol)
        days = [b.ts.astimezone(NY).date() for b in bars]
        sessions = [s.day for s in XNYS.sessions if days[0] <= s.day <= days[-1]]
        assert sessions == days
        closed = (date(2008, 12, 25), date(2012, 7, 4), date(2012, 10, 29), date(2012, 10, 30))
        assert not set(closed) & set(days)
    early = next(b for b in load_bundled_daily_bars("AAPL") if b.ts.date() == date(2012, 7, 3))
    assert ny(date(2012, 7, 3), 13) == early.end  # the bar spans the short session


# -- pattern day trader -----------------------------------------------------------------------
def _trade(p: Portfolio, side: Side, instrument: Stock, ts: datetime) -> None:
    cid = ClientOrderId(f"C{next(_ids)}")
    request = OrderRequest(cid, instrument, side, D(10), OrderType.MARKET)
    p.add_order(Order.from_request(request))
    for kind in (K.SUBMITTED, K.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, ts, ts))
    p.apply(
        ExecutionFill(
            request.client_order_id,
            ExecutionId(f"X{next(_ids)}"),
            instrument.id,
            side,
            D(10),
            D(100),
            ts,
            ts,
        )
    )
    p.mark(instrument.id, D(100), ts)


def _day_trades(p: Portfolio, *days: date) -> None:
    for day in days:
        _trade(p, Side.BUY, MSFT, ny(day, 10))
        _trade(p, Side.SELL, MSFT, ny(day, 11))


def _fourth_day_trade_denied(days: tuple[date, ...], check_day: date) -> None:
    p = Portfolio(D(20_000))
    _day_trades(p, *days)
    assert list(days) == [d for d, _ in p.day_trades]
    now = ny(check_day, 10, 30)
    _trade(p, Side.BUY, AAPL, ny(check_day, 10))
    desk = TradingDesk(p, RiskLimits(), calendar=XNYS)
    request = OrderRequest(ClientOrderId("close"), AAPL, Side.SELL, D(10), OrderType.MARKET)
    ctx = desk.risk_context(request, now)
    assert 3 == p.day_trades_within(now, 5, XNYS)
    denial = check_pattern_day_trader(request, ctx)
    assert denial is not None
    assert (RiskCode.PATTERN_DAY_TRADER, "3", "4") == (denial.code, denial.limit, denial.value)


def test_pdt_counts_three_day_trades_across_thanksgiving() -> None:
    _fourth_day_trade_denied(
        (date(2024, 11, 25), date(2024, 11, 26), date(2024, 11, 27)), date(2024, 12, 2)
    )


def test_pdt_counts_three_day_trades_across_good_friday() -> None:
    _fourth_day_trade_denied(
        (date(2024, 3, 27), date(2024, 3, 28), date(2024, 4, 1)), date(2024, 4, 3)
    )


def test_pdt_counts_three_day_trades_across_independence_day() -> None:
    """July 3rd (an early close) is a business day; July 4th is not."""
    _fourth_day_trade_denied(
        (date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)), date(2024, 7, 8)
    )


# -- DAY orders on an early close -------------------------------------------------------------
def test_sim_day_order_on_july_3rd_expires_at_13_new_york() -> None:
    sim = Scenario(start=ny(date(2024, 7, 3), 10))
    order = sim.request(Side.BUY, 10, OrderType.LIMIT, limit_price="90")
    sim.submit(order)
    sim.advance(timedelta(hours=2, minutes=59))
    assert [K.ACCEPTED] == sim.kinds(order)
    sim.advance(timedelta(minutes=1))
    assert [K.ACCEPTED, K.EXPIRED] == sim.kinds(order)
    expired = [e for e in sim.events if isinstance(e, OrderLifecycleEvent)][-1]
    assert ny(date(2024, 7, 3), 13) == expired.ts_event


def test_sim_day_order_placed_on_good_friday_works_until_monday_close() -> None:
    sim = Scenario(start=ny(date(2024, 3, 29), 10))
    order = sim.request(Side.BUY, 10, OrderType.LIMIT, limit_price="90")
    sim.submit(order)
    sim.advance(ny(date(2024, 4, 1), 15, 59) - sim.engine.now)
    assert [K.ACCEPTED] == sim.kinds(order)
    sim.advance(timedelta(minutes=1))
    assert [K.ACCEPTED, K.EXPIRED] == sim.kinds(order)


def test_ibkr_day_expiry_follows_the_calendar() -> None:
    assert ny(date(2024, 7, 3), 13) == session_close(ny(date(2024, 7, 3), 10), XNYS)
    assert ny(date(2024, 11, 29), 13) == session_close(ny(date(2024, 11, 28), 12), XNYS)
    assert ny(date(2024, 4, 1), 16) == session_close(ny(date(2024, 3, 29), 12), XNYS)


def test_calendar_and_session_refuse_bad_values_by_name() -> None:
    day = date(2024, 1, 2)
    opened, closed = ny(day, 9, 30), ny(day, 16)
    with pytest.raises(InvalidValue, match="after open"):
        Session(day, closed, opened)
    with pytest.raises(InvalidValue, match="must be a date"):
        Session(opened, opened, closed)  # type: ignore[arg-type]
    good = Session(day, opened, closed)
    with pytest.raises(InvalidValue, match="Session values"):
        TradingCalendar("X", "America/New_York", day, day, ("2024-01-02",))  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="outside"):
        TradingCalendar("X", "America/New_York", date(2024, 1, 3), date(2024, 1, 31), (good,))
    with pytest.raises(InvalidValue, match="before first"):
        TradingCalendar("X", "America/New_York", day, date(2023, 12, 31), ())
    with pytest.raises(InvalidValue, match="IANA"):
        TradingCalendar("X", "Not/AZone", day, day, (good,))


def test_calendar_edges_raise_instead_of_guessing() -> None:
    small = xnys_calendar(date(2024, 1, 2), date(2024, 1, 31))
    assert (date(2024, 1, 15),) == small.holidays()  # Martin Luther King Jr. Day
    with pytest.raises(CalendarRangeError):
        small.previous_sessions(date(2024, 1, 5), 10)  # the range runs out before 10 sessions
    with pytest.raises(InvalidValue, match="non-negative"):
        small.previous_sessions(date(2024, 1, 5), -1)
    with pytest.raises(CalendarRangeError):
        small.next_session(date(2024, 1, 31))
    assert not small.is_early_close(date(2024, 1, 6))  # a Saturday has no session at all


def test_open_and_closed_instants() -> None:
    day = date(2024, 7, 3)
    assert XNYS.is_open(ny(day, 12, 59))
    assert not XNYS.is_open(ny(day, 13))  # the early close
    assert not XNYS.is_open(ny(date(2024, 7, 4), 11))
    assert XNYS.session_at(ny(day, 9, 29)) is None
