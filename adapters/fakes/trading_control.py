"""`InMemoryTradingControl`: the `TradingControl` port in memory, for tests and embedding.

One instance stands for the stored document that several gates (processes, in a test) share:
give the same instance to each. It records every request written (`written`) and can be made
unreadable or unwritable (`break_reads`, `break_writes`) to exercise how gates fail closed. It
never touches the disk or the network.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ordergate.domain.risk.control import TradingRequest
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.trading_control import TradingControlError

__all__ = ["InMemoryTradingControl"]


class InMemoryTradingControl:
    """The operator's standing request, held in memory (see the module docstring)."""

    def __init__(self, initial: TradingRequest | None = None) -> None:
        self._stored = initial
        self.written: list[TradingRequest] = []
        self._read_error: str | None = None
        self._write_error: str | None = None

    def __str__(self) -> str:
        return "memory"

    async def read(self) -> TradingRequest | None:
        """The request last written, or None."""
        if self._read_error is not None:
            raise TradingControlError(f"memory control: cannot be read ({self._read_error})")
        return self._stored

    async def request(
        self,
        state: TradingState,
        reason: str = "",
        *,
        now: datetime | None = None,
        kill: bool = False,
    ) -> TradingRequest:
        """Replace the stored request with the one that follows it; returns it."""
        if self._write_error is not None:
            raise TradingControlError(f"memory control: cannot be written ({self._write_error})")
        previous = None if self._read_error is not None else self._stored
        request = TradingRequest.after(previous, state, reason, now or datetime.now(UTC), kill=kill)
        self._stored = request
        self.written.append(request)
        return request

    async def close(self) -> None:
        """Nothing to release."""

    # -- controls ------------------------------------------------------------------------------
    def break_reads(self, detail: str | None = "injected read failure") -> None:
        """From now on `read` raises `TradingControlError` (None: reads work again)."""
        self._read_error = detail

    def break_writes(self, detail: str | None = "injected write failure") -> None:
        """From now on `request` raises `TradingControlError` (None: writes work again)."""
        self._write_error = detail
