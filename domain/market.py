"""Market data values: bars and quotes. Prices are Decimal, times aware UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import InstrumentId, decimal_field, opt_decimal_field, utc_field

__all__ = ["Bar", "Quote"]


@attrs.frozen
class Bar:
    """One OHLCV bar. `ts` is the bar's *start*; `duration` its length (a day, a minute)."""

    instrument_id: InstrumentId
    ts: datetime = utc_field()
    open: Decimal = decimal_field(positive=True)
    high: Decimal = decimal_field(positive=True)
    low: Decimal = decimal_field(positive=True)
    close: Decimal = decimal_field(positive=True)
    volume: Decimal = decimal_field(non_negative=True)
    duration: timedelta = timedelta(minutes=1)

    def __attrs_post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise InvalidValue(
                "Bar",
                (self.open, self.high, self.low, self.close),
                "needs low <= open, close <= high",
            )

    @property
    def end(self) -> datetime:
        return self.ts + self.duration

    @property
    def typical_price(self) -> Decimal:
        return (self.high + self.low + self.close) / 3


@attrs.frozen
class Quote:
    """A snapshot quote. Any of bid/ask/last may be missing (None); `ts` is when it was taken."""

    instrument_id: InstrumentId
    ts: datetime = utc_field()
    bid: Decimal | None = opt_decimal_field(positive=True)
    ask: Decimal | None = opt_decimal_field(positive=True)
    last: Decimal | None = opt_decimal_field(positive=True)
    volume: Decimal | None = opt_decimal_field(non_negative=True)

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def reference_price(self) -> Decimal | None:
        """Last if present, else mid: the price risk rules compare against."""
        return self.last if self.last is not None else self.mid

    def age(self, now: datetime) -> timedelta:
        return now - self.ts
