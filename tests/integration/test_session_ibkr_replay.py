"""The main-job session through IB equals the one on the simulated broker.

The same `Settings` (data, seed, limits) are run twice: on the in-process simulated broker, and
through the IBKR adapter (the real `ib_async` client over loopback) against the TWS gateway
emulator driven by the sim matching engine (`GatewayServer(SimGatewayEngine(...))`), the emulator
replaying one trading day per control-channel request. Every order, fill (price, quantity,
commission, time), risk decision, closure and the final PnL must be identical.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from ordergate.adapters.gateway_sim.control import ReplayControlClient, ReplayControlError
from ordergate.adapters.gateway_sim.server import GatewayServer
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.application.bootstrap import build_application, sim_session
from ordergate.application.config import Settings, load_settings
from ordergate.application.session import SessionRunner, SessionSummary
from ordergate.domain.errors import BrokerError

DAYS = 120


def settings_for(broker: str, port: int = 4002) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "broker.kind": broker,
            "market_data.kind": broker,
            "broker.port": port,
            "broker.request_timeout": 20,
            "audit.kind": "memory",
            "publisher.kind": "memory",
            "session.bars": DAYS,
            "session.seed": 11,
        },
    )


async def run_session(settings: Settings) -> tuple[SessionSummary, dict[str, Any]]:
    async with await build_application(settings, replay=True) as app:
        gate = app.gate
        runner = SessionRunner(
            gate, app.session_pacer(), app.session_strategies(), barrier=app.session_barrier()
        )
        summary = await runner.run()
        assert (await gate.verify_audit()).ok
        return summary, await fingerprint(gate, summary)


async def fingerprint(gate: Any, summary: SessionSummary) -> dict[str, Any]:
    """Everything a session decided and the broker did, without ids the two brokers number
    differently (execution ids, broker order ids)."""
    portfolio = gate.portfolio
    fills = sorted(
        (str(order.request.instrument.id), order.request.side.value, fill.quantity, fill.price,
         fill.commission, fill.ts_event)
        for order in portfolio.orders.values()
        for fill in order.fills
    )
    orders = sorted(
        (str(order.client_order_id), str(order.request.instrument.id),
         order.request.side.value, order.request.order_type.value, order.request.quantity,
         order.status.value)
        for order in portfolio.orders.values()
    )
    decisions = [
        (e.record.ts, e.record.correlation_id, numbers_by_value(e.record.payload))
        for e in await gate.audit_entries(kind="risk.decision")
    ]
    return {
        "cycles": summary.cycles,
        "signals": summary.signals,
        "sent": summary.orders_sent,
        "not_sent": {k: v for k, v in summary.status_counts().items()
                     if k not in {"SUBMITTED", "PARTIAL", "FILLED"}},
        "denials": dict(summary.denial_reasons()),
        "closures": dict(summary.closure_reasons()),
        "skipped_stale": summary.skipped_stale,
        "fills": fills,
        "orders": orders,
        "decisions": decisions,
        "realized": summary.realized_pnl,
        "unrealized": summary.unrealized_pnl,
        "commissions": summary.commissions,
        "equity": (summary.starting_equity, summary.equity),
        "cash": portfolio.cash,
        "positions": sorted((str(p.instrument_id), p.quantity) for p in portfolio.open_positions()),
    }


def numbers_by_value(value: Any) -> Any:
    """`value` with every numeric string normalised ("99642.0000" and "99642.00" are one number:
    the simulator keeps four decimals, IB quotes to the tick)."""
    if isinstance(value, dict):
        return {k: numbers_by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_by_value(v) for v in value]
    if isinstance(value, str) and value and value.lstrip("-").replace(".", "", 1).isdigit():
        return str(Decimal(value).normalize())
    return value


@pytest.fixture
async def emulator() -> AsyncIterator[GatewayServer]:
    engine = SimGatewayEngine(sim_session(settings_for("sim")))
    async with GatewayServer(engine, port=0) as server:
        yield server


async def test_run_through_ibkr_and_the_emulator_equals_the_sim_broker(
    emulator: GatewayServer,
) -> None:
    sim_summary, on_sim = await run_session(settings_for("sim"))
    ib_summary, on_ib = await run_session(settings_for("ibkr", emulator.port))

    assert on_sim["cycles"] == DAYS
    assert on_sim["fills"], "the session must trade for the comparison to mean anything"
    assert on_sim["closures"], "Strategy C must close something"
    assert on_sim["decisions"]
    for key in on_sim:
        assert on_ib[key] == on_sim[key], key
    assert ib_summary.equity == sim_summary.equity != Decimal(0)


async def test_control_channel_refuses_a_second_pass_and_unknown_ops(
    emulator: GatewayServer,
) -> None:
    async with await ReplayControlClient.connect("127.0.0.1", emulator.port) as control:
        status = await control.status()
        assert status.replay
        assert status.days_done == 0
        assert status.total_days == DAYS
        with pytest.raises(ReplayControlError, match="unknown op"):
            await control.request({"op": "rewind"})
        with pytest.raises(ReplayControlError, match="unknown fault"):
            await control.fault("no_such_fault")
        advanced = await control.advance()
        assert advanced.advanced
        assert advanced.days_done == 1
        assert advanced.now > status.now


async def test_run_needs_a_replaying_emulator() -> None:
    async with GatewayServer(SimGatewayEngine(sim_session(settings_for("sim"))), port=0) as s:
        port = s.port
    with pytest.raises(BrokerError, match=f"127.0.0.1:{port}"):
        await run_session(settings_for("ibkr", port))
