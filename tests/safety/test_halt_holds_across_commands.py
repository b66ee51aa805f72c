"""Issue #9 item 7: a halt holds across commands and restarts. Every entry point that trades —
a gate built on the trading control (what `build_application` gives `run`, `serve`, `flatten`
and an embedding app), `ordergate run`, `ordergate serve` — honours the operator's persisted
trading state, when it starts and while it runs.

The defect this guards: `ordergate halt` followed by `ordergate run` on the same audit file sent
12 orders, because `run` ignored the persisted state (only `serve` polled it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from _halt_kill_rig import AAPL, Venue, signal

from ordergate.adapters.control import FileTradingControl
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.application.session import MomentumStrategyA, SessionRunner
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.ports.trading_control import TradingControl

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]
SENT = {OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED, OrderResultStatus.PARTIAL}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd)}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False, cwd=cwd
    )


def row(output: str, name: str) -> str:
    """The value of one row of the summary table (`│ name │ value │`)."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 2 and cells[1] == name:
            return cells[2]
    raise AssertionError(f"no row {name!r} in:\n{output}")


def submits(audit: Path, cwd: Path) -> int:
    exported = run_cli("audit", "export", "--path", str(audit), cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    kinds = [json.loads(line)["kind"] for line in exported.stdout.splitlines() if line.strip()]
    return kinds.count("broker.submit")


# -- the gate: a persisted request holds from the first order ---------------------------------
@pytest.mark.parametrize("kind", ["fake", "sim"])
async def test_a_gate_started_after_a_halt_starts_halted_and_sends_no_new_risk(kind: str) -> None:
    venue = Venue(kind)
    venue.price("100")
    async with venue.gate() as gate:  # one process halts...
        await gate.halt("operator: stop for the day")
    async with venue.gate() as gate:  # ...the next one, started later, holds it
        assert gate.trading_state is TradingState.HALTED
        [result] = await gate.submit_signal(signal("S1"))
    assert result.status is OrderResultStatus.DENIED
    assert result.decision is not None
    assert RiskCode.TRADING_HALTED in result.decision.codes
    assert await venue.position(AAPL) == 0
    applied = await venue.records("risk.trading_state")
    assert [r["state"] for r in applied] == ["HALTED", "HALTED"]
    assert "persisted request" in applied[1]["reason"]


async def test_a_halt_written_by_another_process_reaches_a_running_gate() -> None:
    venue = Venue("fake")
    venue.price("100")
    async with venue.gate() as gate:
        await venue.control.request(TradingState.HALTED, "ordergate halt")  # another process
        assert await gate.sync_trading_control() is True
        [result] = await gate.submit_signal(signal("S1"))
        assert result.status is OrderResultStatus.DENIED
        assert await gate.sync_trading_control() is False  # unchanged: applied once
        await venue.control.request(TradingState.ACTIVE, "ordergate resume")
        assert await gate.sync_trading_control() is True
        [result] = await gate.submit_signal(signal("S2"))
        assert result.status in SENT


async def test_an_unreadable_control_starts_the_gate_halted_and_says_why() -> None:
    venue = Venue("fake")
    venue.price("100")
    venue.control.break_reads("disk error")
    async with venue.gate() as gate:
        assert gate.trading_state is TradingState.HALTED
        [result] = await gate.submit_signal(signal("S1"))
    assert result.status is OrderResultStatus.DENIED
    [error] = await venue.records("trading.control_error")
    assert "disk error" in error["error"]


# -- a session (`ordergate run`) polls the control each cycle -------------------------------------
class HaltAfter:
    """The simulator's pacer, with an operator who writes a halt to the control during cycle
    `cycles` (from another process, as `ordergate halt` does); `halted_at` is when."""

    def __init__(self, session: SimSession, control: TradingControl, cycles: int) -> None:
        self._session = session
        self.total_cycles = session.pacer.total_cycles
        self._control = control
        self._left = cycles
        self.halted_at: datetime | None = None

    def upcoming_day(self) -> date | None:
        return self._session.pacer.upcoming_day()

    async def next_cycle(self) -> bool:
        more = await self._session.pacer.next_cycle()
        self._left -= 1
        if self._left == 0:
            await self._control.request(TradingState.HALTED, "operator halt mid-session")
            self.halted_at = self._session.clock.now()
        return more


async def test_a_running_session_honours_a_halt_written_while_it_runs() -> None:
    session = SimSession.build(("MSFT", "IBM"), bars=400, seed=7)
    control = InMemoryTradingControl()
    ports = Ports(
        session.broker,
        session.market_data,
        InMemoryAuditLog(),
        session.clock,
        InMemoryPublisher(),
        control,
    )
    pacer = HaltAfter(session, control, cycles=200)
    strategy = MomentumStrategyA([Stock("MSFT"), Stock("IBM")])
    daily = GateOptions(
        operator_id="CSATSPRIM",
        staleness_seconds=3 * 86_400,  # as `ordergate run` decides on daily bars
        snapshot_window=timedelta(days=120),
        snapshot_bar_size=DAILY_BAR,
    )
    async with OrderGate(ports, daily) as gate:
        summary = await SessionRunner(gate, pacer, [strategy]).run()
        assert gate.trading_state is TradingState.HALTED
    assert pacer.halted_at is not None
    before = [r for r in summary.results if r.ts < pacer.halted_at]
    after = [r for r in summary.results if r.ts >= pacer.halted_at]
    assert any(r.status in SENT for r in before)  # it traded until the halt...
    assert after  # ...its strategy kept signalling after it...
    assert [r for r in after if r.status in SENT] == []  # ...and nothing more was sent
    assert summary.control_changes == 1


# -- the commands, as an operator runs them ------------------------------------------------------
@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "ordergate.toml").write_text(f'[audit]\npath = "{tmp_path / "audit.db"}"\n')
    return tmp_path


def test_halt_then_run_on_the_same_file_sends_no_order(workdir: Path) -> None:
    config = str(workdir / "ordergate.toml")
    halted = run_cli("halt", "--config", config, "--reason", "end of day", cwd=workdir)
    assert halted.returncode == 0, halted.stderr
    ran = run_cli("run", "--config", config, "--bars", "300", "--quiet", cwd=workdir)
    assert ran.returncode == 0, ran.stderr
    assert row(ran.stdout, "orders sent") == "0"
    assert row(ran.stdout, "trading state at the end") == "HALTED"
    assert "TRADING_HALTED" in ran.stdout
    assert submits(workdir / "audit.db", workdir) == 0


def test_resume_then_run_trades_again(workdir: Path) -> None:
    config = str(workdir / "ordergate.toml")
    assert run_cli("halt", "--config", config, cwd=workdir).returncode == 0
    resumed = run_cli("resume", "--config", config, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    ran = run_cli("run", "--config", config, "--bars", "300", "--quiet", cwd=workdir)
    assert ran.returncode == 0, ran.stderr
    assert int(row(ran.stdout, "orders sent")) > 0
    assert row(ran.stdout, "trading state at the end") == "ACTIVE"


def test_halt_then_serve_denies_and_sends_nothing(workdir: Path) -> None:
    config = str(workdir / "ordergate.toml")
    signals = workdir / "signals.jsonl"
    line = {
        "signal_id": "S1",
        "instrument": {"_type": "Stock", "symbol": "AAPL"},
        "side": "BUY",
        "ts": datetime.now(UTC).isoformat(),  # the fake broker's clock starts at now
        "quantity": "5",
    }
    signals.write_text(json.dumps(line) + "\n")
    control = workdir / "elsewhere" / "control.json"
    halted = run_cli("halt", "--config", config, "--control-file", str(control), cwd=workdir)
    assert halted.returncode == 0, halted.stderr
    assert json.loads(control.read_text())["state"] == "HALTED"
    served = run_cli(
        "serve", "--config", config, "--broker", "fake", "--signals-file", str(signals),
        "--control-file", str(control), cwd=workdir,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert "DENIED 1" in served.stdout
    assert submits(workdir / "audit.db", workdir) == 0


async def test_the_file_control_is_the_one_the_commands_share(tmp_path: Path) -> None:
    control = FileTradingControl(tmp_path / "audit.control.json")
    await control.request(TradingState.HALTED, "first")
    assert isinstance(control, TradingControl)
    assert (await control.read()) == (await FileTradingControl(control.path).read())
