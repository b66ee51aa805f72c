"""`SystemClock`: the wall clock as a `Clock` port (aware UTC, monotonic-safe sleeping).

It must never be used by tests that need deterministic time (use `FakeClock` or `SimClock`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

__all__ = ["SystemClock"]


class SystemClock:
    """Real time. `now()` never goes backwards even if the system clock is stepped back."""

    def __init__(self) -> None:
        self._last = datetime.now(UTC)

    def now(self) -> datetime:
        """The current time, aware UTC, never earlier than a previous answer."""
        current = datetime.now(UTC)
        if current < self._last:
            return self._last
        self._last = current
        return current

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of real time."""
        await asyncio.sleep(max(0.0, seconds))
