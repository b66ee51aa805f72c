"""A whole session in process on the simulated broker: Strategy A and Strategy C on real bars,
deterministic for a seed, with every order behind the gate and a chain that verifies."""

from __future__ import annotations

from datetime import timedelta

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.session import MomentumStrategyA, SessionRunner, SessionSummary
from ordergate.domain.orders import ClosureReason


async def run_session(days: int) -> tuple[SessionSummary, InMemoryAuditLog, OrderGate]:
    sim = SimSession.build(["AAPL", "MSFT", "IBM"], bars=days, seed=7)
    audit = InMemoryAuditLog(clock=sim.clock)
    gate = OrderGate(
        Ports(sim.broker, sim.market_data, audit, sim.clock, InMemoryPublisher()),
        GateOptions(
            operator_id="CSATSPRIM",
            snapshot_window=timedelta(days=120),
            snapshot_bar_size=DAILY_BAR,
            staleness_seconds=3 * 86_400,
        ),
    )
    stocks = [s for s in sim.stocks if s.symbol != "AAPL"]
    calls = [s for s in sim.stocks if s.symbol == "AAPL"]
    strategies = [
        MomentumStrategyA(stocks),
        MomentumStrategyA(calls, name="A-calls", option_picker=sim.pick_call),
    ]
    cycles: list[int] = []
    async with gate:
        summary = await SessionRunner(
            gate, sim.pacer, strategies, on_cycle=lambda n, _s: cycles.append(n)
        ).run()
        assert cycles == list(range(1, days + 1))
        assert (await gate.verify_audit()).ok
    return summary, audit, gate


async def test_a_session_trades_closes_by_rule_and_reconciles() -> None:
    summary, audit, gate = await run_session(250)
    assert summary.cycles == 250
    assert summary.signals > 0
    assert summary.fills > 0
    reasons = set(summary.closure_reasons())
    assert reasons
    assert reasons <= {r.value for r in ClosureReason}
    portfolio = gate.portfolio
    assert portfolio.cash + portfolio.market_value() == (
        portfolio.starting_cash
        + portfolio.realized_pnl()
        + portfolio.unrealized_pnl()
        - portfolio.total_commissions
    )
    kinds = [entry.record.kind for entry in await InMemoryAuditLog(audit.store).query()]
    assert kinds.index("risk.decision") < kinds.index("broker.submit")


async def test_the_same_seed_gives_the_same_session() -> None:
    first, _, _ = await run_session(120)
    second, _, _ = await run_session(120)
    assert (first.signals, first.fills, first.realized_pnl, first.equity) == (
        second.signals,
        second.fills,
        second.realized_pnl,
        second.equity,
    )
    assert first.closure_reasons() == second.closure_reasons()
