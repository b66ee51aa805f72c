"""The signal-service test rig shared by the service's unit tests: a gate on fakes, an
in-memory signal source on the same fake clock, and an audit store that outlives one gate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import decode_signal
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import ServiceOptions, SignalService, TradingControl
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

__all__ = ["AAPL", "CALL", "FAST", "T0", "Rig", "signal"]

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
CALL = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)
FAST: dict[str, Any] = {"receive_timeout": 0.02, "monitor_interval": None}


class Rig:
    """A gate on fakes, an in-memory source on the same fake clock, and an audit store that
    outlives one gate (so a restarted gate reads what the crashed one wrote)."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL, CALL])
        self.market = FakeMarketData(self.clock, [AAPL, CALL])
        self.store = MemoryAuditStore()
        self.source = InMemorySignalSource(self.clock, visibility_timeout=30, decode=decode_signal)
        self.publisher = InMemoryPublisher()
        self.gate = self.new_gate()

    def new_gate(self) -> OrderGate:
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)
        self.publisher = InMemoryPublisher()
        ports = Ports(self.broker, self.market, self.audit, self.clock, self.publisher)
        return OrderGate(ports, GateOptions(operator_id="CSATSPRIM"))

    def service(self, control: TradingControl | None = None, **options: object) -> SignalService:
        settings = {**FAST, **options}
        return SignalService(
            self.gate,
            self.source,
            self.clock,
            options=ServiceOptions(**settings),
            control=control,
        )

    def price(self, px: str, instrument: Stock | OptionContract = AAPL) -> None:
        self.broker.set_price(instrument, Decimal(px))
        self.market.set_price(instrument, Decimal(px))

    async def records(self, kind: str) -> list[dict[str, object]]:
        return [dict(e.record.payload) for e in await self.audit.query(kind=kind)]

    def submits(self) -> int:
        return len(self.broker.calls_to("submit")) + len(self.broker.calls_to("submit_list"))


def signal(sid: str, qty: int = 5, instrument: Stock | OptionContract = AAPL) -> Signal:
    return Signal(SignalId(sid), instrument, Side.BUY, T0, quantity=Decimal(qty))
