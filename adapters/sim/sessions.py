"""Exchange sessions for the simulator: when a DAY order's session closes.

US equities and options trade 09:30–16:00 in the exchange's time zone on weekdays. Holidays are
not modelled (a DAY order placed on a holiday expires at that day's 16:00). Pure functions of the
time they are given.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["SESSION_CLOSE", "SESSION_OPEN", "is_in_session", "session_close_after"]

SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
_SATURDAY = 5


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def session_close_after(when: datetime, zone_name: str) -> datetime:
    """The first session close strictly after `when` (aware UTC), as aware UTC: an order placed
    at or after a close belongs to the next weekday's session."""
    zone = _zone(zone_name)
    local = when.astimezone(zone)
    day = local.date()
    while True:
        if day.weekday() < _SATURDAY:
            close = datetime.combine(day, SESSION_CLOSE, tzinfo=zone)
            if close > local:
                return close.astimezone(UTC)
        day += timedelta(days=1)


def is_in_session(when: datetime, zone_name: str) -> bool:
    """True on a weekday between the open (inclusive) and the close (exclusive), local time."""
    local = when.astimezone(_zone(zone_name))
    return local.weekday() < _SATURDAY and SESSION_OPEN <= local.time() < SESSION_CLOSE
