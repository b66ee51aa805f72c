"""The `Clock` port: the only source of "now" for services.

Contract: `now()` returns an aware UTC datetime that never goes backwards; `sleep` waits for the
given seconds of *this clock's* time (a fake clock advances only when told, waking sleepers whose
deadline has passed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    """Wall or simulated time."""

    def now(self) -> datetime:
        """The current time, aware UTC."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
