"""Tradable instruments: stocks/ETFs and equity options, with tick size and size increment.

Option expiry is a date *and* a last-trade time in the exchange's time zone: an option is not
"expired" at midnight UTC of its last trading day, and days-to-expiry counts exchange calendar days.
"""

from __future__ import annotations

import enum
import functools
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import InstrumentId, check_decimal, check_text, check_utc

__all__ = [
    "NEW_YORK",
    "SYMBOL_MAX_LENGTH",
    "Instrument",
    "OptionContract",
    "OptionRight",
    "Stock",
    "quantize_price",
]

NEW_YORK = ZoneInfo("America/New_York")
_DEFAULT_LAST_TRADE = time(16, 0)


def _zone(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidValue(
            f"{type(inst).__name__}.{attribute.name}", value, "must be an IANA zone name"
        )
    try:
        ZoneInfo(value)
    except Exception as exc:
        raise InvalidValue(
            f"{type(inst).__name__}.{attribute.name}", value, "must be an IANA zone name"
        ) from exc


SYMBOL_MAX_LENGTH = 32
"""The longest symbol (IB's local symbols are far shorter)."""
_CODE_MAX_LENGTH = 16
_STEP_RANGE = (Decimal("1e-8"), Decimal(10_000))
"""Tick sizes and size increments lie in this range (bounded, so arithmetic stays exact)."""
_MAX_STRIKE = Decimal(10**9)
_MAX_MULTIPLIER = Decimal(10**6)


def _symbol(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    field = f"{type(inst).__name__}.{attribute.name}"
    check_text(field, value, max_length=SYMBOL_MAX_LENGTH)
    if value != value.upper():
        raise InvalidValue(field, value, "must be a non-empty upper-case symbol")


def _code(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Exchange and currency codes: printable ASCII without spaces (empty where optional)."""
    check_text(
        f"{type(inst).__name__}.{attribute.name}",
        value,
        max_length=_CODE_MAX_LENGTH,
        ascii_only=True,
        allow_empty=attribute.name == "primary_exchange",
    )


def _bounded(low: Decimal | None, high: Decimal) -> Any:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        field = f"{type(inst).__name__}.{attribute.name}"
        check_decimal(field, value, positive=True)
        if (low is not None and value < low) or value > high:
            shown = f"in [{low}, {high}]" if low is not None else f"at most {high}"
            raise InvalidValue(field, value, f"must be {shown}")
        if len(value.as_tuple().digits) > 28:
            raise InvalidValue(field, value, "must have at most 28 significant digits")

    return validate


_STEP = _bounded(*_STEP_RANGE)


def quantize_price(price: Decimal, tick: Decimal) -> Decimal:
    """Round `price` to the nearest multiple of `tick` (half-even), keeping the tick's exponent."""
    steps = (price / tick).to_integral_value()
    return (steps * tick).quantize(tick)


@attrs.frozen
class Stock:
    """A stock or ETF. `id` defaults to the symbol."""

    symbol: str = attrs.field(validator=_symbol)
    exchange: str = attrs.field(default="SMART", validator=_code)
    currency: str = attrs.field(default="USD", validator=_code)
    primary_exchange: str = attrs.field(default="", validator=_code)
    tick_size: Decimal = attrs.field(default=Decimal("0.01"), validator=_STEP)
    size_increment: Decimal = attrs.field(default=Decimal(1), validator=_STEP)
    time_zone: str = attrs.field(default="America/New_York", validator=_zone)

    @functools.cached_property
    def id(self) -> InstrumentId:
        """The symbol as an `InstrumentId` (built once: the gate asks for it on every rule)."""
        return InstrumentId(self.symbol)

    @property
    def multiplier(self) -> Decimal:
        return Decimal(1)

    @property
    def is_option(self) -> bool:
        return False

    def is_valid_price(self, price: Decimal) -> bool:
        """True when `price` is a whole number of ticks."""
        return price % self.tick_size == 0

    def is_valid_quantity(self, quantity: Decimal) -> bool:
        """True when `quantity` is a whole number of size increments."""
        return quantity % self.size_increment == 0


class OptionRight(enum.Enum):
    """Call or put."""

    CALL = "C"
    PUT = "P"


def _expiry(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(f"{type(inst).__name__}.{attribute.name}", value, "must be a date")


@attrs.frozen
class OptionContract:
    """An equity option. `last_trade_time` is wall-clock time on `expiry` in `time_zone`."""

    underlying: str = attrs.field(validator=_symbol)
    expiry: date = attrs.field(validator=_expiry)
    strike: Decimal = attrs.field(validator=_bounded(None, _MAX_STRIKE))
    right: OptionRight = attrs.field(validator=attrs.validators.instance_of(OptionRight))
    multiplier: Decimal = attrs.field(
        default=Decimal(100), validator=_bounded(None, _MAX_MULTIPLIER)
    )
    exchange: str = attrs.field(default="SMART", validator=_code)
    currency: str = attrs.field(default="USD", validator=_code)
    tick_size: Decimal = attrs.field(default=Decimal("0.01"), validator=_STEP)
    size_increment: Decimal = attrs.field(default=Decimal(1), validator=_STEP)
    time_zone: str = attrs.field(default="America/New_York", validator=_zone)
    last_trade_time: time = attrs.field(
        default=_DEFAULT_LAST_TRADE, validator=attrs.validators.instance_of(time)
    )

    @property
    def symbol(self) -> str:
        """The OCC-style symbol, e.g. `AAPL  240119C00150000`."""
        strike_milli = int(self.strike * 1000)
        return f"{self.underlying:<6}{self.expiry:%y%m%d}{self.right.value}{strike_milli:08d}"

    @functools.cached_property
    def id(self) -> InstrumentId:
        """The OCC symbol as an `InstrumentId` (built once)."""
        return InstrumentId(self.symbol)

    @property
    def is_option(self) -> bool:
        return True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def last_trade_at(self) -> datetime:
        """The aware instant trading stops (exchange time zone)."""
        return datetime.combine(self.expiry, self.last_trade_time, tzinfo=self.zone)

    def days_to_expiry(self, now: datetime) -> int:
        """Exchange calendar days from `now` (exchange-local date) to expiry; may be < 0."""
        check_utc("now", now)
        return (self.expiry - now.astimezone(self.zone).date()).days

    def is_expired(self, now: datetime) -> bool:
        """True once `now` reaches the last-trade time in the exchange's zone."""
        check_utc("now", now)
        return now >= self.last_trade_at

    def is_valid_price(self, price: Decimal) -> bool:
        """True when `price` is a whole number of ticks."""
        return price % self.tick_size == 0

    def is_valid_quantity(self, quantity: Decimal) -> bool:
        """True when `quantity` is a whole number of contracts (size increments)."""
        return quantity % self.size_increment == 0


Instrument = Stock | OptionContract
