"""Compact bars for the simulator, and the bundled real daily bars (AAPL, MSFT, IBM).

The matching engine works on integer prices in `PRICE_UNIT`s (0.0001) so that the hot path does
integer comparisons, never Decimal arithmetic; `SimBar` is a bar in those units. Conversions to
and from the domain `Bar` are exact for prices on a 0.0001 grid (every US equity tick) and round
half-even otherwise.

The bundled file `stocks_aapl_msft_ibm.csv.gz` holds Quandl WIKI daily prices (public domain, see
`DATA.md` next to it). A daily bar spans its day's exchange session (`sessions.session_bounds`:
09:30 to 16:00 America/New_York, to 13:00 on an early close).
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.sim.sessions import session_bounds
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.market import Bar
from ordergate.domain.values import InstrumentId

__all__ = [
    "BARS_COLUMNS",
    "BUNDLED_SYMBOLS",
    "PRICE_UNIT",
    "BarsFileError",
    "SimBar",
    "from_units",
    "load_bundled_daily_bars",
    "load_daily_bars_csv",
    "to_units",
]

PRICE_UNIT = Decimal("0.0001")
_UNITS_PER_ONE = 10_000
BUNDLED_FILE = "stocks_aapl_msft_ibm.csv.gz"
BUNDLED_SYMBOLS = ("AAPL", "MSFT", "IBM")
BARS_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Volume")


def to_units(price: Decimal) -> int:
    """A Decimal price as an integer number of `PRICE_UNIT`s (half-even off the grid)."""
    return int((price * _UNITS_PER_ONE).to_integral_value())


def from_units(units: int) -> Decimal:
    """An integer number of `PRICE_UNIT`s as a Decimal price with four decimal places."""
    return Decimal(units).scaleb(-4)


class SimBar:
    """One OHLCV bar in integer price units. `ts` is the start, `end` the end (aware UTC);
    `key` is the instrument id as a plain string."""

    __slots__ = ("close", "end", "high", "instrument_id", "key", "low", "open", "ts", "volume")

    def __init__(  # noqa: PLR0917  (a bar is its eight fields, built in tight replay loops)
        self,
        instrument_id: InstrumentId,
        ts: datetime,
        end: datetime,
        open_: int,
        high: int,
        low: int,
        close: int,
        volume: int,
    ) -> None:
        if not (0 < low <= min(open_, close) and max(open_, close) <= high):
            raise InvalidValue("SimBar", (open_, high, low, close), "needs 0 < low <= o, c <= high")
        self.instrument_id = instrument_id
        self.key = instrument_id.value  # a str: cheap to hash on the hot path
        self.ts = ts
        self.end = end
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume

    @classmethod
    def from_bar(cls, bar: Bar) -> SimBar:
        """The compact form of a domain `Bar`."""
        return cls(
            bar.instrument_id,
            bar.ts,
            bar.end,
            to_units(bar.open),
            to_units(bar.high),
            to_units(bar.low),
            to_units(bar.close),
            int(bar.volume),
        )

    def to_bar(self) -> Bar:
        """The domain `Bar` (Decimal prices) for this bar."""
        return Bar(
            self.instrument_id,
            self.ts,
            from_units(self.open),
            from_units(self.high),
            from_units(self.low),
            from_units(self.close),
            Decimal(self.volume),
            self.end - self.ts,
        )

    def __repr__(self) -> str:
        return (
            f"SimBar({self.instrument_id}, {self.ts.isoformat()}, o={self.open} h={self.high} "
            f"l={self.low} c={self.close} v={self.volume})"
        )


class BarsFileError(OrdergateError, ValueError):
    """A daily-bars CSV that cannot be read: the message names the file, the line (1 is the
    header) and what was expected there."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        super().__init__(
            f"{source}, line {line}: {problem} (expected a header with columns "
            f"{','.join(BARS_COLUMNS)}, plus Ticker when the file holds several symbols)"
        )


def _number(row: dict[str, str], column: str) -> Decimal:
    text = row[column]
    try:
        value = Decimal(text.strip()) if len(text) <= 64 else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ValueError(f"{column} {text!r} is not a number >= 0")
    return value


def _bar(row: dict[str, str], ticker: str, calendar: TradingCalendar) -> SimBar:
    try:
        day = date.fromisoformat(row["Date"].strip())
    except ValueError:
        raise ValueError(f"Date {row['Date']!r} is not a date (YYYY-MM-DD)") from None
    start, end = session_bounds(day, calendar)  # InvalidValue (a ValueError) on a holiday
    open_, high, low, close = (to_units(_number(row, c)) for c in ("Open", "High", "Low", "Close"))
    volume = _number(row, "Volume")
    if volume != volume.to_integral_value():
        raise ValueError(f"Volume {row['Volume']!r} is not a whole number")
    try:
        return SimBar(InstrumentId(ticker), start, end, open_, high, low, close, int(volume))
    except InvalidValue as exc:
        raise ValueError(f"prices {exc.value} break 0 < Low <= Open, Close <= High") from None


def _rows(
    text: Iterable[str], symbol: str | None, calendar: TradingCalendar, source: str
) -> Iterator[SimBar]:
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BarsFileError(source, 1, f"the header cannot be read ({exc})") from None
    if header is None:
        raise BarsFileError(source, 1, "the file is empty")
    missing = [c for c in BARS_COLUMNS if c not in header]
    if missing:
        found = ",".join(h for h in header if h)[:200] or "nothing"
        raise BarsFileError(source, 1, f"the header lacks {', '.join(missing)} (found {found})")
    if symbol is None and "Ticker" not in header and "Symbol" not in header:
        raise BarsFileError(
            source, 1, "the header has no Ticker column to say whose bars these are"
        )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BarsFileError(
                source, reader.line_num, f"the row cannot be read ({exc})"
            ) from None
        if None in row or any(value is None for value in row.values()):
            fewer = None not in row
            raise BarsFileError(
                source,
                reader.line_num,
                f"the row has {'fewer' if fewer else 'more'} fields than the header",
            )
        ticker = row.get("Ticker") or row.get("Symbol") or symbol or ""
        if not ticker:
            raise BarsFileError(source, reader.line_num, "the row's Ticker is empty")
        if symbol is not None and ticker != symbol:
            continue
        try:
            yield _bar(row, ticker, calendar)
        except ValueError as exc:
            raise BarsFileError(source, reader.line_num, str(exc)) from None


def load_daily_bars_csv(
    path: Path, symbol: str | None = None, calendar: TradingCalendar | None = None
) -> list[SimBar]:
    """Daily bars from a CSV (optionally gzipped) with columns `Date,Open,High,Low,Close,Volume`
    and, for several symbols in one file, `Ticker`; oldest first. Each bar spans its day's
    session in `calendar` (XNYS by default); a row dated on a holiday or weekend is refused.
    A file that does not hold such bars raises `BarsFileError` naming the line; one that cannot
    be opened, `OSError`."""
    opener = gzip.open if path.suffix == ".gz" else open
    calendar = xnys_calendar() if calendar is None else calendar
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as handle:
            bars = list(_rows(handle, symbol, calendar, str(path)))
    except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise BarsFileError(str(path), 1, f"the file cannot be read as text ({exc})") from None
    bars.sort(key=lambda b: (b.ts, str(b.instrument_id)))
    return bars


def load_bundled_daily_bars(symbol: str, calendar: TradingCalendar | None = None) -> list[SimBar]:
    """The bundled real daily bars of `symbol` (AAPL, MSFT or IBM; 2000-03-01 to 2013-03-01),
    each spanning its XNYS session (13:00 closes included; the data has no row on a holiday)."""
    if symbol not in BUNDLED_SYMBOLS:
        raise InvalidValue("symbol", symbol, f"bundled data covers only {BUNDLED_SYMBOLS}")
    parsed = _bundled(xnys_calendar() if calendar is None else calendar)
    return [_copy(bar) for bar in parsed[symbol]]


@functools.lru_cache(maxsize=4)
def _bundled(calendar: TradingCalendar) -> dict[str, tuple[SimBar, ...]]:
    """Every bundled bar by symbol, oldest first: the file is read and parsed once per process
    and calendar (a session over three symbols used to decompress and parse it three times)."""
    raw = resources.files("ordergate.adapters.sim").joinpath(BUNDLED_FILE).read_bytes()
    text = io.StringIO(gzip.decompress(raw).decode("ascii"), newline="")
    by_symbol: dict[str, list[SimBar]] = {symbol: [] for symbol in BUNDLED_SYMBOLS}
    for bar in _rows(text, None, calendar, BUNDLED_FILE):
        by_symbol.setdefault(bar.key, []).append(bar)
    return {symbol: tuple(sorted(bars, key=lambda b: b.ts)) for symbol, bars in by_symbol.items()}


def _copy(bar: SimBar) -> SimBar:
    """A fresh `SimBar` equal to `bar` (the cached ones are never handed out)."""
    return SimBar(
        bar.instrument_id, bar.ts, bar.end, bar.open, bar.high, bar.low, bar.close, bar.volume
    )
