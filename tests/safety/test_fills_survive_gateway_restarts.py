"""Issue #9 item 6: fills are never lost across gateway restarts.

IB's execution ids are unique for good, so the IBKR adapter seeds the ids it already applied from
the audit log and drops any id it meets again. The gateway emulator must number its executions
the same way: two consecutive sessions through the real `ib_async` client, each against a freshly
started emulator replaying the same market, on one SQLite audit file, must apply every fill of
both sessions. (The emulator used to restart its execution ids at `SIM-00000001`, so the second
session took its own fills for the first session's and dropped them.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ordergate.adapters.gateway_sim.exec_ids import ExecutionIds
from ordergate.adapters.gateway_sim.server import GatewayServer
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.application.bootstrap import build_application, sim_session
from ordergate.application.config import Settings, load_settings
from ordergate.application.session import SessionRunner

DAYS = 40


def settings_for(port: int, audit: Path) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "broker.kind": "ibkr",
            "market_data.kind": "ibkr",
            "broker.port": port,
            "broker.request_timeout": 20,
            "audit.kind": "sqlite",
            "audit.path": str(audit),
            "publisher.kind": "memory",
            "session.bars": DAYS,
            "session.seed": 11,
        },
    )


async def one_session(audit: Path) -> tuple[int, int, set[str]]:
    """Start an emulator (as `ordergate gateway-sim --replay` would), run the session through
    IB on `audit`; return (fills applied, executions the emulator made, their ids)."""
    engine = SimGatewayEngine(sim_session(settings_for(4002, audit)))
    async with GatewayServer(engine, port=0) as server:
        settings = settings_for(server.port, audit)
        async with await build_application(settings, replay=True) as app:
            runner = SessionRunner(
                app.gate,
                app.session_pacer(),
                app.session_strategies(),
                barrier=app.session_barrier(),
            )
            summary = await runner.run()
        made = {e.exec_id for e in engine.executions()}
        return summary.fills, len(made), made


async def recorded_fill_ids(audit: Path) -> list[str]:
    log = await SqliteAuditLog.open(audit)
    try:
        return [str(e.record.payload["execution_id"]) for e in await log.query(kind="broker.fill")]
    finally:
        await log.close()


async def test_a_second_ib_session_on_the_same_audit_file_applies_every_fill(
    tmp_path: Path,
) -> None:
    audit = tmp_path / "audit.db"
    first_applied, first_made, first_ids = await one_session(audit)
    assert first_made > 0, "the session must trade for the test to mean anything"
    assert first_applied == first_made

    second_applied, second_made, second_ids = await one_session(audit)
    assert second_made == first_made  # the same market replayed
    assert second_applied == second_made, (
        f"the second session applied {second_applied} of its {second_made} fills"
    )
    assert not first_ids & second_ids, "a restarted emulator reused execution ids"

    recorded = await recorded_fill_ids(audit)
    assert len(recorded) == len(set(recorded)) == first_made + second_made


def test_execution_ids_of_emulators_started_one_after_another_never_collide() -> None:
    first, second = ExecutionIds(), ExecutionIds()  # the same process, the same microsecond
    ids = [first.next() for _ in range(3)] + [second.next() for _ in range(3)]
    assert len(set(ids)) == 6
    assert all(re.fullmatch(r"[0-9a-f]{8}\.[0-9a-f]{8}\.[0-9a-f]{8}\.01", i) for i in ids)


def test_seeded_execution_ids_repeat_for_deterministic_tests() -> None:
    assert ExecutionIds.seeded(7).next() == ExecutionIds.seeded(7).next()
    assert ExecutionIds.seeded(7).next() != ExecutionIds.seeded(8).next()
    with pytest.raises(ValueError, match="instance must be in"):
        ExecutionIds(-1)
