"""A running `OrderGate` on a real SQLite audit file over a broker harness (fake, sim, or IBKR
through the real `ib_async` client against the gateway emulator), shared by the safety tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.testing import FakeBrokerHarness
from ordergate.adapters.ibkr.testing import IbkrBrokerHarness
from ordergate.adapters.sim.testing import SimBrokerHarness
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.testing.harness import BrokerHarness
from ordergate.domain.risk.limits import RiskLimits

__all__ = ["HARNESSES", "GateOverHarness", "recorded"]

HARNESSES: dict[str, Callable[[], Awaitable[BrokerHarness]]] = {
    "fake": FakeBrokerHarness.create,
    "sim": SimBrokerHarness.create,
    "ibkr": IbkrBrokerHarness.create,
}


class GateOverHarness:
    """The gate (operator CSATSPRIM, `limits`), the harness, and the audit file's path."""

    def __init__(
        self,
        harness: BrokerHarness,
        audit: SqliteAuditLog,
        path: Path,
        limits: RiskLimits | None = None,
    ) -> None:
        self.harness = harness
        self.broker = harness.broker
        self.path = path
        clock = SystemClock()
        self.market = FakeMarketData(FakeClock(clock.now()), [harness.stock])
        self.gate = OrderGate(
            Ports(self.broker, self.market, audit, clock, InMemoryPublisher()),
            GateOptions(operator_id="CSATSPRIM", limits=limits or RiskLimits()),
        )

    async def price(self, price: str) -> None:
        """The market (the broker's and the gate's quotes) trades at `price`."""
        await self.harness.set_price(self.harness.stock, Decimal(price))
        self.market.set_price(self.harness.stock, Decimal(price))

    async def settle(self) -> None:
        await self.harness.settle()
        await self.gate.settle()

    async def recorded(self) -> list[tuple[str, dict[str, Any]]]:
        return await recorded(self.path)


async def recorded(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(kind, payload) of every record in the audit file, through a fresh connection (what is
    committed)."""
    audit = await SqliteAuditLog.open(path)
    try:
        return [(e.record.kind, dict(e.record.payload)) for e in await audit.query()]
    finally:
        await audit.close()
