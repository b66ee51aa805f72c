"""Issue #9 item 7: the kill switch — halt, cancel everything, flatten — is reachable from the
facade (`OrderGate.kill`) and the CLI (`ordergate kill`), is audited, holds across restarts and
commands, and is undone only by an explicit `resume`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _halt_kill_rig import AAPL, Venue, entry, limit, signal

from ordergate.adapters.control import FileTradingControl
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.application.results import OrderResultStatus
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.orders import OrderIntent
from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.values import Side

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]
SENT = {OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED, OrderResultStatus.PARTIAL}


async def long_ten_with_working_orders(venue: Venue) -> None:
    venue.price("100")
    async with venue.gate() as gate:
        await gate.submit_request(entry("BUY-1", 10))
        await gate.settle()
        await gate.submit_request(limit("TP-1", Side.SELL, 10, "110"))
        await gate.submit_request(limit("DIP-1", Side.BUY, 5, "90"))
        await gate.settle()


# -- the facade --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fake", "sim"])
async def test_kill_halts_cancels_everything_and_flattens(kind: str) -> None:
    venue = Venue(kind)
    await long_ten_with_working_orders(venue)
    async with venue.gate() as gate:
        report = await gate.kill("runaway strategy")
        await gate.settle()
        assert gate.kill_switch_engaged
        assert gate.trading_state is TradingState.HALTED
        [denied] = await gate.submit_signal(signal("AFTER-KILL"))
        [closure] = report.flatten.closures
        assert gate.portfolio.order(closure.client_order_id).request.intent is OrderIntent.FLATTEN
    assert report.persisted
    assert sorted(v.client_order_id.value for v in report.flatten.cancelled) == ["DIP-1", "TP-1"]
    assert report.flatten.ok
    assert denied.status is OrderResultStatus.DENIED
    assert denied.decision is not None
    assert RiskCode.TRADING_HALTED in denied.decision.codes
    assert await venue.open_orders() == []
    assert await venue.position() == 0
    venue.price("89")
    venue.price("111")
    assert await venue.position() == 0


async def test_kill_is_audited_switch_state_and_request_before_the_cancel() -> None:
    venue = Venue("fake")
    await long_ten_with_working_orders(venue)
    async with venue.gate() as gate:
        await gate.kill("runaway strategy")
        await gate.settle()
    kinds = await venue.kinds()
    [engaged] = await venue.records("trading.kill_switch")
    assert engaged == {"engaged": True, "reason": "runaway strategy"}
    [state] = await venue.records("risk.trading_state")
    assert (state["previous"], state["state"]) == ("ACTIVE", "HALTED")
    [request] = await venue.records("trading.request")
    assert (request["state"], request["kill_switch"]) == ("HALTED", True)
    assert kinds.index("trading.kill_switch") < kinds.index("broker.cancel_all")
    assert kinds.index("trading.request") < kinds.index("broker.cancel_all")


async def test_a_restart_stays_killed_and_only_resume_releases_it() -> None:
    venue = Venue("fake")
    venue.price("100")
    async with venue.gate() as gate:
        await gate.kill("operator")
    async with venue.gate() as gate:  # a restart
        assert gate.kill_switch_engaged
        assert gate.trading_state is TradingState.HALTED
        [result] = await gate.submit_signal(signal("S1"))
        assert result.status is OrderResultStatus.DENIED
        await gate.halt("a halt does not release a kill")
        with pytest.raises(KillSwitchEngaged):
            await gate.reduce("neither does reduce")
    async with venue.gate() as gate:
        assert gate.kill_switch_engaged
        await gate.resume("incident closed")
        assert not gate.kill_switch_engaged
        [result] = await gate.submit_signal(signal("S2"))
        assert result.status in SENT
    async with venue.gate() as gate:
        assert gate.trading_state is TradingState.ACTIVE
        assert not gate.kill_switch_engaged


async def test_a_failing_control_store_never_stops_a_kill() -> None:
    venue = Venue("fake")
    await long_ten_with_working_orders(venue)
    async with venue.gate() as gate:
        venue.control.break_writes("read-only disk")
        report = await gate.kill("runaway strategy")
        await gate.settle()
        assert gate.kill_switch_engaged
    assert not report.persisted
    assert "read-only disk" in report.control_error
    assert report.flatten.ok
    assert await venue.position() == 0
    assert await venue.open_orders() == []


async def test_a_running_service_engages_a_kill_requested_by_another_process() -> None:
    venue = Venue("fake")
    venue.price("100")
    source = InMemorySignalSource(venue.fake_clock)
    async with venue.gate() as gate:
        service = SignalService(
            gate, source, venue.fake_clock, options=ServiceOptions(monitor_interval=None)
        )
        await service.apply_control()
        assert not gate.kill_switch_engaged
        await venue.control.request(TradingState.HALTED, "ordergate kill", kill=True)
        await service.apply_control()
        assert gate.kill_switch_engaged
        with pytest.raises(KillSwitchEngaged):
            await gate.reduce("try")
        [result] = await gate.submit_signal(signal("S1"))
        assert result.status is OrderResultStatus.DENIED
        await venue.control.request(TradingState.ACTIVE, "ordergate resume")
        await service.apply_control()
        assert not gate.kill_switch_engaged
        assert gate.trading_state is TradingState.ACTIVE
    assert service.summary.control_changes == 2
    assert await venue.position(AAPL) == 0


# -- the commands ------------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd)}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False, cwd=cwd
    )


def row(output: str, name: str) -> str:
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 2 and cells[1] == name:
            return cells[2]
    raise AssertionError(f"no row {name!r} in:\n{output}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "ordergate.toml").write_text(f'[audit]\npath = "{tmp_path / "audit.db"}"\n')
    return tmp_path


def test_ordergate_kill_holds_for_run_until_resume(workdir: Path) -> None:
    config = str(workdir / "ordergate.toml")
    killed = run_cli("kill", "--config", config, "--broker", "fake", "--reason", "drill",
                     cwd=workdir)  # fmt: skip
    # No service runs, so there is no fake account to cancel or flatten (exit 5), but the
    # switch is persisted first and holds for every gate started from now on.
    assert killed.returncode == 5, killed.stdout + killed.stderr
    assert "kill switch engaged" in killed.stdout
    document = json.loads((workdir / "audit.control.json").read_text())
    assert (document["state"], document["kill_switch"]) == ("HALTED", True)

    ran = run_cli("run", "--config", config, "--bars", "300", "--quiet", cwd=workdir)
    assert ran.returncode == 0, ran.stderr
    assert row(ran.stdout, "orders sent") == "0"
    assert row(ran.stdout, "trading state at the end") == "HALTED (kill switch)"

    assert run_cli("halt", "--config", config, cwd=workdir).returncode == 0
    document = json.loads((workdir / "audit.control.json").read_text())
    assert document["kill_switch"] is True  # a halt keeps the kill

    assert run_cli("resume", "--config", config, cwd=workdir).returncode == 0
    ran = run_cli("run", "--config", config, "--bars", "300", "--quiet", cwd=workdir)
    assert int(row(ran.stdout, "orders sent")) > 0
    assert row(ran.stdout, "trading state at the end") == "ACTIVE"


def test_ordergate_kill_is_persisted_even_when_the_broker_is_unreachable(workdir: Path) -> None:
    config = workdir / "ordergate.toml"
    config.write_text(
        config.read_text() + '[broker]\nkind = "ibkr"\nport = 1\nconnect_timeout = 0.5\n'
        '[market_data]\nkind = "ibkr"\n'
    )
    killed = run_cli("kill", "--config", str(config), cwd=workdir)
    assert killed.returncode != 0
    document = json.loads((workdir / "audit.control.json").read_text())
    assert (document["state"], document["kill_switch"]) == ("HALTED", True)


async def test_the_cli_file_keeps_the_kill_across_a_halt(tmp_path: Path) -> None:
    control = FileTradingControl(tmp_path / "c.json")
    await control.request(TradingState.HALTED, "kill", kill=True)
    await control.request(TradingState.HALTED, "halt")
    stored = await control.read()
    assert stored is not None
    assert stored.kill_switch
    with pytest.raises(KillSwitchEngaged):
        await control.request(TradingState.REDUCING, "reduce")
    released = await control.request(TradingState.ACTIVE, "resume")
    assert not released.kill_switch
