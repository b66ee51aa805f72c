"""Market snapshot use case: a snapshot quote plus a bounded window of bars → indicators.

The quote is a snapshot (no subscription is left open) and the bar request is bounded
(by default the 60 one-minute RTH bars the seed's strategies use: one hour, the IB limit).
"""

from __future__ import annotations

from datetime import timedelta

from ordergate.application.desk import TradingDesk
from ordergate.domain.indicators.snapshot import MarketSnapshot, compute_snapshot
from ordergate.domain.instruments import Instrument
from ordergate.ports.clock import Clock
from ordergate.ports.market_data import MarketData

__all__ = ["MarketSnapshotService"]


class MarketSnapshotService:
    """Builds `MarketSnapshot`s and keeps the quote for the risk gate."""

    def __init__(
        self,
        *,
        market_data: MarketData,
        clock: Clock,
        desk: TradingDesk,
        timeout: float,
        staleness_seconds: float,
        window: timedelta = timedelta(hours=1),
        bar_size: timedelta = timedelta(minutes=1),
    ) -> None:
        self._market = market_data
        self._clock = clock
        self._desk = desk
        self._timeout = timeout
        self._staleness = staleness_seconds
        self.window = window
        self.bar_size = bar_size

    async def snapshot(self, instrument: Instrument) -> MarketSnapshot:
        """Quote + bars ending now → indicators and data quality (the quote is kept)."""
        quote = await self._market.quote(instrument, timeout=self._timeout)
        now = self._clock.now()
        bars = await self._market.bars(
            instrument,
            end=now,
            duration=self.window,
            bar_size=self.bar_size,
            rth_only=True,
            timeout=self._timeout,
        )
        self._desk.update_quote(quote)
        return compute_snapshot(quote, bars, now, staleness_limit_seconds=self._staleness)
