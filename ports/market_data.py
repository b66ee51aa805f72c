"""The `MarketData` port: snapshot quotes and bounded historical bars.

Contract (proved by `tests/contract/test_market_data_contract.py`):
- Quotes are snapshots: no streaming subscription is left open by any call.
- `bars` returns bars whose start is in `[end - duration, end)`, oldest first; an adapter may
  refuse a request longer than its bound (IB: one hour of RTH one-minute bars) with
  `InvalidValue` naming the limit.
- Every call takes `timeout` and raises `BrokerTimeout` when it expires; unknown instruments raise
  `BrokerRejected`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar, Quote

__all__ = ["MarketData"]


@runtime_checkable
class MarketData(Protocol):
    """A source of quotes and bars."""

    async def quote(self, instrument: Instrument, *, timeout: float) -> Quote:
        """The latest quote (bid/ask/last/volume may be missing); `ts` says how old it is."""

    async def bars(
        self,
        instrument: Instrument,
        *,
        end: datetime,
        duration: timedelta,
        bar_size: timedelta = timedelta(minutes=1),
        rth_only: bool = True,
        timeout: float,
    ) -> list[Bar]:
        """Historical bars ending before `end`, covering at most `duration`."""
