"""Exchange sessions for the simulator, from the exchange calendar: when a DAY order's session
closes, whether the market is open, where a daily bar starts and ends.

The sessions are the `TradingCalendar`'s (XNYS from `exchange_calendars` unless a caller gives
another): no session on weekends and holidays (Good Friday, Thanksgiving, the Hurricane Sandy
closure of 2012-10-29/30), and early closes at 13:00 New York (July 3rd, the day after
Thanksgiving, Christmas Eve). Pure functions of the time and calendar they are given.
"""

from __future__ import annotations

from datetime import date, datetime, time

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue

__all__ = [
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "is_in_session",
    "session_bounds",
    "session_close_after",
]

SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)


def session_close_after(when: datetime, calendar: TradingCalendar) -> datetime:
    """The first session close strictly after `when` (aware UTC), as aware UTC: an order placed
    at or after a close, or on a day without a session, belongs to the next session."""
    return calendar.close_after(when)


def is_in_session(when: datetime, calendar: TradingCalendar) -> bool:
    """True between a session's open (inclusive) and close (exclusive)."""
    return calendar.is_open(when)


def session_bounds(day: date, calendar: TradingCalendar) -> tuple[datetime, datetime]:
    """The open and close (aware UTC) of `day`'s session; `InvalidValue` when the exchange does
    not trade that day (a daily bar dated on a holiday or weekend is bad data)."""
    session = calendar.session(day)
    if session is None:
        raise InvalidValue(
            "daily bar date",
            day,
            f"is not a trading session of {calendar.name} (holiday or weekend)",
        )
    return session.open, session.close
