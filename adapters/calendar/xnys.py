"""The New York Stock Exchange calendar (XNYS) from `exchange_calendars`, as a `TradingCalendar`.

`exchange_calendars` (a maintained library of the field, the Quantopian lineage) computes every
NYSE session from its own rules and ad-hoc closures — holidays, early closes at 13:00, the days
the exchange was shut (Hurricane Sandy 2012-10-29/30, national days of mourning) — with no data
loaded from the network. This module is the only place the library (and pandas) is imported: it
converts the library's schedule once into the pure domain value and caches it per range.

The default range, `DEFAULT_FIRST` to `DEFAULT_LAST`, covers the bundled bars (2000–2013) and
today's trading with years to spare; a day outside raises `CalendarRangeError`.
"""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, date, datetime, time

from ordergate.domain.calendar import Session, TradingCalendar

__all__ = ["DEFAULT_FIRST", "DEFAULT_LAST", "LIBRARY", "xnys_calendar"]

DEFAULT_FIRST = date(1990, 1, 2)
DEFAULT_LAST = date(2035, 12, 31)
LIBRARY = "exchange_calendars"


def _version() -> str:
    import exchange_calendars  # noqa: PLC0415 - imported only when a calendar is built

    return str(exchange_calendars.__version__)


@functools.lru_cache(maxsize=4)
def xnys_calendar(first: date = DEFAULT_FIRST, last: date = DEFAULT_LAST) -> TradingCalendar:
    """The XNYS sessions from `first` to `last` (built once per range in a process)."""
    import exchange_calendars  # noqa: PLC0415 - heavy (pandas): only when a calendar is needed

    with warnings.catch_warnings():
        # The library's own use of pandas APIs that pandas has deprecated (e.g. pandas 3.1's
        # Pandas4Warning on Series.values) is not ours to fix; nothing else is silenced.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        library = exchange_calendars.get_calendar(
            "XNYS", start=first.isoformat(), end=last.isoformat()
        )
        schedule = library.schedule
        opens = list(schedule["open"].dt.to_pydatetime())
        closes = list(schedule["close"].dt.to_pydatetime())
    sessions = tuple(
        Session(label.date(), _utc(opened), _utc(closed))
        for label, opened, closed in zip(schedule.index, opens, closes, strict=True)
    )
    return TradingCalendar(
        name=f"XNYS ({LIBRARY} {_version()})",
        time_zone=str(library.tz),
        first=first,
        last=last,
        sessions=sessions,
        regular_close=time(16, 0),
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
