"""The `TradingControl` port: where the operator's trading-state request is kept between processes.

Contract (proved for every adapter by `tests/contract/test_trading_control_contract.py`):
- `read()` returns the request last written, or None when nothing was ever requested; a stored
  document that cannot be read raises `TradingControlError` naming where and the bad value.
- `request(state, reason, now=..., kill=...)` durably replaces the stored request with
  `TradingRequest.after(previous, ...)` and returns it: a kill switch once engaged stays engaged
  until an ACTIVE request (an explicit resume), and REDUCING is refused while it is
  (`KillSwitchEngaged`). A reader sees the old request or the new one, never part of one.
- `close()` releases what the adapter opened; reading or writing after it is not required to work.
- A control never changes trading state itself: the `OrderGate` applies what it reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.control import TradingRequest
from ordergate.domain.risk.decision import TradingState

__all__ = ["TradingControl", "TradingControlError"]


class TradingControlError(OrdergateError):
    """The stored request is unreadable, holds a value that is not a trading state, or cannot
    be written."""


@runtime_checkable
class TradingControl(Protocol):
    """The operator's standing trading-state request (see the module docstring)."""

    async def read(self) -> TradingRequest | None:
        """The request last written, or None."""

    async def request(
        self,
        state: TradingState,
        reason: str = "",
        *,
        now: datetime | None = None,
        kill: bool = False,
    ) -> TradingRequest:
        """Durably record that the operator asks for `state` (or the kill switch); returns it."""

    async def close(self) -> None:
        """Release the channel."""
