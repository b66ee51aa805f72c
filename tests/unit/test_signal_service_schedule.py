"""`SignalService` schedules on fakes: the trading control (halt/resume/reduce from another
process), the Strategy C monitor and the idle exit, all on the service clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ordergate.adapters.control import FileTradingControl
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import decode_signal
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.application.service import (
    ServiceOptions,
    SignalService,
    TradingControl,
)
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import ClosureReason
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

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


def state_of(gate: OrderGate) -> TradingState:
    return gate.trading_state


def signal(sid: str, qty: int = 5, instrument: Stock | OptionContract = AAPL) -> Signal:
    return Signal(SignalId(sid), instrument, Side.BUY, T0, quantity=Decimal(qty))


async def test_reducing_request_is_applied_through_the_gate(tmp_path: Path) -> None:
    rig = Rig()
    control = FileTradingControl(tmp_path / "control.json")
    await control.request(TradingState.REDUCING, "end of day")
    async with rig.gate as gate:
        service = rig.service(control)
        await service.apply_control()
        assert gate.trading_state is TradingState.REDUCING
        assert service.summary.control_changes == 1


async def test_halt_through_the_control_stops_new_risk_and_resume_restores_it(
    tmp_path: Path,
) -> None:
    rig = Rig()
    rig.price("100")
    control = FileTradingControl(tmp_path / "control.json")
    await control.request(TradingState.HALTED, "lunch")
    rig.source.push(signal("S1"))
    async with rig.gate as gate:
        summary = await rig.service(control, max_signals=1).run(asyncio.Event())
        [denied] = summary.results
        assert gate.trading_state is TradingState.HALTED
        assert denied.decision is not None
        assert RiskCode.TRADING_HALTED in denied.decision.codes
        assert rig.submits() == 0
        [change] = await rig.records("risk.trading_state")
        assert change["state"] == "HALTED"

        await control.request(TradingState.ACTIVE, "back")
        rig.source.push(signal("S2"))
        service = rig.service(control, max_signals=1, control_interval=1.0)
        summary = await service.run(asyncio.Event())
        assert state_of(gate) is TradingState.ACTIVE
        assert [r.status for r in summary.results] == [OrderResultStatus.SUBMITTED]
        assert rig.submits() == 1


async def test_a_request_is_applied_once_so_breakers_are_not_overridden(tmp_path: Path) -> None:
    rig = Rig()
    control = FileTradingControl(tmp_path / "control.json")
    await control.request(TradingState.ACTIVE)
    async with rig.gate as gate:
        service = rig.service(control, control_interval=1.0)
        await service.apply_control()
        await gate.halt("breaker tripped")  # the risk side halts; the old request stays ACTIVE
        rig.clock.advance(5)
        await service.apply_control()
        assert gate.trading_state is TradingState.HALTED


async def test_unreadable_control_keeps_the_state_and_is_audited_once(tmp_path: Path) -> None:
    rig = Rig()
    path = tmp_path / "control.json"
    path.write_text('{"state": "PAUSED"}')
    async with rig.gate as gate:
        service = rig.service(FileTradingControl(path))
        for _ in range(3):
            await service.apply_control()
        [error] = await rig.records("service.control_error")
        assert gate.trading_state is TradingState.ACTIVE
    assert "PAUSED" in str(error["error"])
    assert service.summary.control_errors == 3


async def test_strategy_c_runs_every_monitor_interval_on_the_service_clock() -> None:
    rig = Rig()
    rig.price("3.00", CALL)
    rig.source.push(signal("O1", 2, CALL))
    async with rig.gate as gate:
        service = rig.service(max_signals=1, monitor_interval=60.0)
        await service.run(asyncio.Event())
        assert gate.portfolio.position_qty(CALL.id) == Decimal(2)
        rig.clock.set(datetime(2024, 1, 16, 15, 0, tzinfo=UTC))  # 3 days to expiry
        rig.price("3.10", CALL)
        await service.run_monitor()
        closures = service.summary.closures
        assert [c.closure_reason for c in closures] == [ClosureReason.THREE_DTE]
        assert gate.portfolio.position_qty(CALL.id) == 0


async def test_monitor_is_due_only_after_its_interval() -> None:
    rig = Rig()
    stop = asyncio.Event()
    async with rig.gate:
        service = rig.service(monitor_interval=60.0)
        task = asyncio.create_task(service.run(stop))
        await asyncio.sleep(0.05)
        assert service.summary.monitor_cycles == 0
        rig.clock.advance(61)
        await asyncio.sleep(0.1)
        stop.set()
        summary = await task
    assert summary.monitor_cycles == 1
    assert summary.stopped_because == "stop requested"


async def test_idle_exit_stops_after_a_quiet_period_on_the_service_clock() -> None:
    rig = Rig()
    async with rig.gate:
        service = rig.service(idle_exit=10.0)
        task = asyncio.create_task(service.run(asyncio.Event()))
        await asyncio.sleep(0.05)
        assert not task.done()
        rig.clock.advance(11)
        summary = await asyncio.wait_for(task, 5)
    assert summary.stopped_because == "idle for 10 s"
