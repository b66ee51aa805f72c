"""Port: a replayed market that can be moved on (the simulator's; `OrderGate.simulation`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

__all__ = ["MarketReplay"]


class MarketReplay(Protocol):
    """A market whose time moves only when asked: one bar interval (every symbol's bar that
    starts at the next bar time), or the rest of a trading day.

    Each move replays the bars at once; the fills, quotes and settlements they cause are on the
    broker's event stream when the call returns (the gate's `settle()` then applies them).
    """

    total_cycles: int | None
    """Trading days in the replay (None: unbounded)."""

    def upcoming_day(self) -> date | None:
        """The exchange-local trading date the next bar belongs to (None when over)."""

    def upcoming_bar_ts(self) -> datetime | None:
        """When the next bar interval starts (None when over)."""

    def days_left(self) -> int:
        """Trading days not yet fully replayed (a day begun counts)."""

    async def next_bar(self) -> bool:
        """Replay the next bar interval; False when every bar has been replayed."""

    async def next_cycle(self) -> bool:
        """Replay what is left of the current trading day; False when over."""
