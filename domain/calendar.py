"""`TradingCalendar`: an exchange's sessions as a pure value (open and close of every trading day).

The domain never computes holidays itself: an adapter builds the value from a maintained
calendar library (`ordergate.adapters.calendar.xnys` wraps `exchange_calendars`' XNYS) and hands
it to the functions that need it — the pattern-day-trader window, DAY-order expiry, the
simulator's sessions, the emulator's bars. A calendar covers a fixed range of dates; asking about
a day outside it raises `CalendarRangeError` (naming the day and the range) rather than guessing.

A day inside the range is a *session* (the exchange trades: `Session.open`/`close`, aware UTC;
an early close is a close before the regular one, e.g. 13:00 New York on July 3rd), a weekend, or
a *holiday* (a weekday without a session). Everything here is synchronous and does no I/O.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import check_utc, utc_field

__all__ = ["CalendarRangeError", "Session", "TradingCalendar"]

_SATURDAY = 5


class CalendarRangeError(InvalidValue):
    """A day outside the range a `TradingCalendar` was built for."""

    def __init__(self, calendar: str, day: date, first: date, last: date) -> None:
        super().__init__(
            f"TradingCalendar {calendar}",
            day,
            f"{day.isoformat()} is outside the calendar, which covers {first.isoformat()} to "
            f"{last.isoformat()}; build it over a range that includes this day",
        )
        self.first = first
        self.last = last


def _day(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(f"{type(inst).__name__}.{attribute.name}", value, "must be a date")


@attrs.frozen
class Session:
    """One trading day: its exchange-local `day` and its `open`/`close` instants (aware UTC)."""

    day: date = attrs.field(validator=_day)
    open: datetime = utc_field()
    close: datetime = utc_field()

    def __attrs_post_init__(self) -> None:
        if self.close <= self.open:
            raise InvalidValue("Session.close", self.close, f"must be after open {self.open}")

    def contains(self, when: datetime) -> bool:
        """True from the open (inclusive) to the close (exclusive)."""
        return self.open <= when < self.close


def _sessions(value: Iterable[Session]) -> tuple[Session, ...]:
    sessions = tuple(value)
    for session in sessions:
        if not isinstance(session, Session):
            raise InvalidValue("TradingCalendar.sessions", session, "must hold Session values")
    for before, after in itertools.pairwise(sessions):
        if after.day <= before.day:
            raise InvalidValue(
                "TradingCalendar.sessions", after.day, f"must be ascending; follows {before.day}"
            )
    return sessions


def _zone_name(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        ZoneInfo(str(value))
    except Exception as exc:
        raise InvalidValue("TradingCalendar.time_zone", value, "must be an IANA zone") from exc


@attrs.frozen(eq=False)
class TradingCalendar:
    """An exchange's sessions from `first` to `last` (inclusive), in `time_zone`.

    `regular_close` is the exchange-local close of a normal day (16:00 for XNYS): a session that
    closes earlier is an early close. Build it from a calendar library in an adapter; the domain
    only reads it.
    """

    name: str
    time_zone: str = attrs.field(validator=_zone_name)
    first: date = attrs.field(validator=_day)
    last: date = attrs.field(validator=_day)
    sessions: tuple[Session, ...] = attrs.field(converter=_sessions)
    regular_close: time = time(16, 0)
    _by_day: dict[date, int] = attrs.field(init=False, repr=False)
    _ordinals: list[int] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidValue("TradingCalendar.last", self.last, f"is before first {self.first}")
        for session in self.sessions:
            if not self.first <= session.day <= self.last:
                raise InvalidValue(
                    "TradingCalendar.sessions", session.day, f"is outside {self.first}..{self.last}"
                )
        object.__setattr__(self, "_by_day", {s.day: i for i, s in enumerate(self.sessions)})
        object.__setattr__(self, "_ordinals", [s.day.toordinal() for s in self.sessions])

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        """The exchange's time zone."""
        return ZoneInfo(self.time_zone)

    # -- days ------------------------------------------------------------------------------
    def _check(self, day: date) -> None:
        if not self.first <= day <= self.last:
            raise CalendarRangeError(self.name, day, self.first, self.last)

    def local_date(self, when: datetime) -> date:
        """The exchange-local date of an aware instant."""
        check_utc("when", when)
        return when.astimezone(self.zone).date()

    def is_session(self, day: date) -> bool:
        """True when the exchange trades on `day`."""
        self._check(day)
        return day in self._by_day

    def session(self, day: date) -> Session | None:
        """The session on `day`, None on a weekend or holiday."""
        self._check(day)
        index = self._by_day.get(day)
        return None if index is None else self.sessions[index]

    def is_holiday(self, day: date) -> bool:
        """True on a weekday the exchange does not trade (New Year, Good Friday, a closure)."""
        self._check(day)
        return day.weekday() < _SATURDAY and day not in self._by_day

    def holidays(self, start: date | None = None, end: date | None = None) -> tuple[date, ...]:
        """Every weekday without a session from `start` to `end` (default: the whole range)."""
        start, end = start or self.first, end or self.last
        self._check(start)
        self._check(end)
        days = []
        day = start
        while day <= end:
            if day.weekday() < _SATURDAY and day not in self._by_day:
                days.append(day)
            day += timedelta(days=1)
        return tuple(days)

    def is_early_close(self, day: date) -> bool:
        """True when `day`'s session closes before `regular_close` (exchange-local)."""
        session = self.session(day)
        if session is None:
            return False
        return session.close.astimezone(self.zone).time() < self.regular_close

    def early_closes(self) -> Iterator[Session]:
        """The sessions that close before `regular_close`."""
        zone, regular = self.zone, self.regular_close
        return (s for s in self.sessions if s.close.astimezone(zone).time() < regular)

    def _index_at_or_before(self, day: date) -> int:
        """Index of the last session on or before `day` (−1 when none in range)."""
        self._check(day)
        return bisect.bisect_right(self._ordinals, day.toordinal()) - 1

    def previous_sessions(self, day: date, count: int) -> tuple[date, ...]:
        """The last `count` session days on or before `day`, newest first.

        This is "the last `count` business days" of the pattern-day-trader rule: weekends and
        holidays do not count. Raises `CalendarRangeError` if the range runs out first.
        """
        if count < 0:
            raise InvalidValue("count", count, "must be non-negative")
        end = self._index_at_or_before(day)
        if end - count + 1 < 0:
            raise CalendarRangeError(self.name, day - timedelta(days=count), self.first, self.last)
        return tuple(self.sessions[i].day for i in range(end, end - count, -1))

    def next_session(self, day: date) -> Session:
        """The first session strictly after `day`."""
        index = self._index_at_or_before(day) + 1
        if index >= len(self.sessions):
            raise CalendarRangeError(self.name, day + timedelta(days=1), self.first, self.last)
        return self.sessions[index]

    def sessions_between(self, start: date, end: date) -> int:
        """Sessions in (`start`, `end`]: the trading days from `start` to `end` (negative when
        `end` is before `start`)."""
        if end < start:
            return -self.sessions_between(end, start)
        return self._index_at_or_before(end) - self._index_at_or_before(start)

    # -- instants --------------------------------------------------------------------------
    def session_at(self, when: datetime) -> Session | None:
        """The session open at `when` (open inclusive, close exclusive), else None."""
        session = self.session(self.local_date(when))
        return session if session is not None and session.contains(when) else None

    def is_open(self, when: datetime) -> bool:
        """True while a session is open at `when`."""
        return self.session_at(when) is not None

    def session_for_order(self, when: datetime) -> Session:
        """The session a DAY order placed at `when` belongs to: today's if its close is still
        ahead, else the next one (an order placed on a holiday, weekend or after the close works
        in the next session)."""
        day = self.local_date(when)
        session = self.session(day)
        if session is not None and when < session.close:
            return session
        return self.next_session(day)

    def close_after(self, when: datetime) -> datetime:
        """The first session close strictly after `when` (aware UTC): a DAY order's expiry."""
        return self.session_for_order(when).close
