"""Harnesses: how a contract suite drives an adapter without knowing which adapter it is.

Each adapter that wants to prove a port ships a harness (the fake's in `adapters/fakes/testing.py`,
the simulator's in `adapters/sim/testing.py`, IB-over-emulator's in `adapters/ibkr/testing.py`).
The contract suites in `ordergate.application.testing.contracts` use only these Protocols, the
ports and the domain, so a third party proves a new adapter by writing one harness.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.market_data import MarketData

__all__ = ["AuditLogHarness", "BrokerHarness", "MarketDataHarness"]


class BrokerHarness(Protocol):
    """Controls around one connected `Broker` under test.

    `stock` and `option` are instruments the broker knows (qualified); `unknown` is one it must
    reject. Prices move only through `set_price`; working orders that become marketable fill by
    the adapter's fill model (whole quantity unless `set_fill_limit` caps each trade).
    """

    broker: Broker
    stock: Instrument
    option: Instrument
    unknown: Instrument

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """The market trades at `price` (bid = ask = last); marketable working orders fill."""

    async def set_fill_limit(self, quantity: Decimal | None) -> None:
        """Cap the quantity filled per price update (partial fills); None removes the cap."""

    async def reject_next(self, reason: str) -> None:
        """The broker rejects the next submitted order (REJECTED event or `BrokerRejected`)."""

    async def stall(self, seconds: float) -> None:
        """The broker's next reply is delayed by `seconds` (to exercise timeouts)."""

    async def advance(self, seconds: float) -> None:
        """Time passes (DAY orders expire at the session close, GTD ones at their time)."""

    async def now(self) -> datetime:
        """The broker's current time (aware UTC)."""

    async def settle(self) -> None:
        """Wait until every event caused so far has been emitted on `broker.events()`."""

    async def close(self) -> None:
        """Disconnect and release everything."""


class MarketDataHarness(Protocol):
    """Controls around one `MarketData` under test."""

    market_data: MarketData
    stock: Instrument
    unknown: Instrument

    async def set_quote(self, instrument: Instrument, price: Decimal, age_seconds: float) -> None:
        """The latest quote for `instrument` is `price`, taken `age_seconds` ago."""

    async def set_bars(self, instrument: Instrument, bars: Sequence[Bar]) -> None:
        """History for `instrument` (one-minute bars)."""

    async def stall(self, seconds: float) -> None:
        """The next reply is delayed by `seconds`."""

    async def now(self) -> datetime:
        """The adapter's current time."""

    async def close(self) -> None:
        """Release everything."""


class AuditLogHarness(Protocol):
    """Controls around one `AuditLog` under test."""

    audit_log: AuditLog

    async def tamper(self, sequence: int) -> None:
        """Change one stored byte of record `sequence` behind the log's back."""

    async def reopen(self) -> AuditLog:
        """Close and open the same store again (durability across restarts)."""

    async def close(self) -> None:
        """Release everything."""
