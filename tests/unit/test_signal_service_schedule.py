"""`SignalService` schedules on fakes: the trading control (halt/resume/reduce from another
process), the Strategy C monitor and the idle exit, all on the service clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from _signal_rig import CALL, Rig, signal  # shared test rig

from ordergate.adapters.control import FileTradingControl
from ordergate.application.facade import OrderGate
from ordergate.application.results import OrderResultStatus
from ordergate.domain.orders import ClosureReason
from ordergate.domain.risk.decision import RiskCode, TradingState


def state_of(gate: OrderGate) -> TradingState:
    return gate.trading_state


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
