"""Trade ticks for the simulator, and a CSV loader for tick files.

A tick file has a header and the columns `Timestamp,Symbol,Price,Size`, optionally `Bid,Ask`;
timestamps are ISO 8601 with an offset (or `Z`), prices and sizes decimal. Ticks are returned in
time order (stable for equal times). Nothing here touches the engine or a clock.
"""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import InstrumentId, decimal_field, opt_decimal_field, utc_field

__all__ = ["SimTick", "load_ticks_csv"]


@attrs.frozen
class SimTick:
    """One trade (and optionally the quote around it) of one instrument at `ts`."""

    instrument_id: InstrumentId
    ts: datetime = utc_field()
    price: Decimal = decimal_field(positive=True)
    size: Decimal | None = opt_decimal_field(non_negative=True)
    bid: Decimal | None = opt_decimal_field(positive=True)
    ask: Decimal | None = opt_decimal_field(positive=True)


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise InvalidValue("tick Timestamp", text, "needs a UTC offset (e.g. +00:00 or Z)")
    return value.astimezone(UTC)


def _optional(row: dict[str, str], name: str) -> Decimal | None:
    text = (row.get(name) or "").strip()
    return Decimal(text) if text else None


def load_ticks_csv(path: Path) -> list[SimTick]:
    """Ticks from a CSV (optionally gzipped) file; see the module docstring for the columns."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        ticks = [
            SimTick(
                InstrumentId(row["Symbol"]),
                _timestamp(row["Timestamp"]),
                Decimal(row["Price"]),
                _optional(row, "Size"),
                _optional(row, "Bid"),
                _optional(row, "Ask"),
            )
            for row in csv.DictReader(handle)
        ]
    ticks.sort(key=lambda t: t.ts)
    return ticks
