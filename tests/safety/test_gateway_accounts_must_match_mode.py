"""Issue #9 item 4: the accounts the gateway is logged into must match the mode and the account.

After every connect and reconnect, before anything is sent, the IBKR adapter checks the managed
accounts the gateway reports against the configured mode (paper / live), the port and the
configured account. A mismatch refuses to trade: the adapter hangs up and every call raises
`AccountMismatch`, the application audits `broker.account_mismatch` and HALTs, and the CLI exits
with 3. (The adapter used to check the *configured* account only: a paper config on a gateway
logged into a live `U…` account, and a fully armed live config on a paper `DU…` account, both
placed orders.) The emulator is started logged into the account each test needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ordergate.adapters.gateway_sim.instant_engine import InstantEngine
from ordergate.adapters.ibkr.health import ModeMismatch, TradingMode, check_managed_accounts
from ordergate.adapters.ibkr.testing import RecordingGatewayServer
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.application.arming import ARM_VARIABLE, check_arming
from ordergate.application.bootstrap import build_application
from ordergate.application.config import Settings, load_settings
from ordergate.application.results import OrderResultStatus
from ordergate.domain.errors import AccountMismatch
from ordergate.domain.events import ConnectionState
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.decision import TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

pytestmark = pytest.mark.timeout(120)

PAPER, LIVE = "DU1234567", "U7654321"
AAPL = Stock("AAPL")


# -- the rule --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reported", "configured", "expected", "port", "match"),
    [
        ([LIVE], "", TradingMode.PAPER, 4002, "paper port but account"),
        ([LIVE], "", TradingMode.PAPER, 0, "configured for paper"),  # an emulator's port
        ([LIVE], PAPER, TradingMode.PAPER, 4002, "not among the accounts"),
        ([PAPER], LIVE, TradingMode.LIVE, 4001, "not among the accounts"),
        ([PAPER], "", TradingMode.LIVE, 4001, "live port but account"),
        ([PAPER, LIVE], "", TradingMode.PAPER, 0, "configured for paper"),
        ([PAPER, LIVE], "", None, 0, "both paper and live"),
        ([], "", TradingMode.PAPER, 4002, "no managed account"),
    ],
)
def test_reported_accounts_that_disagree_are_refused_naming_them(
    *, reported: list[str], configured: str, expected: TradingMode | None, port: int, match: str
) -> None:
    with pytest.raises(ModeMismatch, match=match) as refused:
        check_managed_accounts(reported, port=port, configured=configured, expected=expected)
    assert isinstance(refused.value, AccountMismatch)
    for account in reported:
        assert account in str(refused.value)


@pytest.mark.parametrize(
    ("reported", "configured", "expected", "port", "traded", "mode"),
    [
        ([PAPER], "", TradingMode.PAPER, 4002, PAPER, TradingMode.PAPER),
        ([PAPER, "DU2"], "DU2", TradingMode.PAPER, 0, "DU2", TradingMode.PAPER),
        ([LIVE, PAPER], LIVE, TradingMode.LIVE, 4001, LIVE, TradingMode.LIVE),
        ([PAPER], "", None, 0, PAPER, TradingMode.PAPER),
    ],
)
def test_agreeing_accounts_name_the_account_traded_and_the_mode(
    *, reported: list[str], configured: str, expected: TradingMode | None, port: int,
    traded: str, mode: TradingMode,
) -> None:
    assert check_managed_accounts(
        reported, port=port, configured=configured, expected=expected
    ) == (traded, mode)


# -- through the real ib_async client against the emulator ---------------------------------------
def settings_for(port: int, audit: Path, host: str = "127.0.0.1", **top: Any) -> Settings:
    overrides: dict[str, object] = {
        "broker.kind": "ibkr",
        "market_data.kind": "ibkr",
        "broker.host": host,
        "broker.port": port,
        "broker.connect_timeout": 5,
        "broker.request_timeout": 5,
        "audit.kind": "sqlite",
        "audit.path": str(audit),
        "publisher.kind": "memory",
        "operator_id": "SAFE",
    }
    overrides.update(top)
    return load_settings(None, environ={}, overrides=overrides)


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[RecordingGatewayServer]:
    host, port, accounts = request.param
    engine = InstantEngine(accounts=accounts)
    async with RecordingGatewayServer(engine, host=host, port=port) as server:  # type: ignore[arg-type]
        yield server


async def records(audit: Path, kind: str) -> list[dict[str, Any]]:
    log = await SqliteAuditLog.open(audit)
    try:
        return [dict(e.record.payload) for e in await log.query(kind=kind)]
    finally:
        await log.close()


async def refused_at_start(settings: Settings, environ: dict[str, str],
                           server: RecordingGatewayServer, audit: Path) -> None:
    check_arming(settings, environ)  # the configuration itself is in order
    app = await build_application(settings, environ)
    with pytest.raises(AccountMismatch) as refused:
        async with app:
            pass
    assert app.gate.trading_state is TradingState.HALTED
    [record] = await records(audit, "broker.account_mismatch")
    assert str(refused.value) in record["detail"]
    assert [] == server.received(3), "an order reached a gateway of the wrong mode"
    assert [] == await records(audit, "broker.submit")


@pytest.mark.parametrize("emulator", [("127.0.0.1", 0, (LIVE,))], indirect=True)
@pytest.mark.parametrize("account_id", [None, PAPER])
async def test_a_paper_config_refuses_a_gateway_logged_into_a_live_account(
    emulator: RecordingGatewayServer, account_id: str | None, tmp_path: Path
) -> None:
    top = {} if account_id is None else {"account_id": account_id}
    audit = tmp_path / "audit.db"
    settings = settings_for(emulator.port, audit, mode="paper", **top)
    await refused_at_start(settings, {}, emulator, audit)


# The live port on another loopback address, so no gateway of this machine is in the way.
LIVE_HOST = "127.0.0.2"


@pytest.mark.parametrize("emulator", [(LIVE_HOST, 4001, (PAPER,))], indirect=True)
async def test_a_fully_armed_live_config_refuses_a_gateway_logged_into_a_paper_account(
    emulator: RecordingGatewayServer, tmp_path: Path
) -> None:
    environ = {ARM_VARIABLE: LIVE}
    audit = tmp_path / "audit.db"
    settings = settings_for(4001, audit, host=LIVE_HOST, mode="live", account_id=LIVE)
    await refused_at_start(settings, environ, emulator, audit)


async def test_a_reconnect_to_a_gateway_logged_into_another_mode_is_refused_and_halts(
    tmp_path: Path,
) -> None:
    audit = tmp_path / "audit.db"
    async with RecordingGatewayServer(InstantEngine(accounts=(PAPER,)), port=0) as first:  # type: ignore[arg-type]
        port = first.port
        async with await build_application(settings_for(port, audit, mode="paper"), {}) as app:
            gate = app.gate
            assert gate.trading_state is TradingState.ACTIVE
            first.close()
            await first.wait_closed()
            # the gateway comes back on the same port, logged into a live account
            second = RecordingGatewayServer(InstantEngine(accounts=(LIVE,)), port=port)  # type: ignore[arg-type]
            async with second:
                for _ in range(1500):
                    if gate.trading_state is TradingState.HALTED:
                        break
                    await asyncio.sleep(0.01)
                await gate.settle()
                assert gate.trading_state is TradingState.HALTED
                [result] = await gate.submit_signal(
                    Signal(SignalId("S1"), AAPL, Side.BUY, gate.now, quantity=Decimal(1))
                )
                assert result.status is not OrderResultStatus.SUBMITTED
                assert [] == second.received(3)
    connection = await records(audit, "broker.connection")
    assert ConnectionState.REFUSED.value in [c["state"] for c in connection]
    [mismatch] = await records(audit, "broker.account_mismatch")
    assert LIVE in mismatch["detail"]
    assert [] == await records(audit, "broker.submit")


# -- the CLI ---------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_gateway(tmp_path: Path) -> Iterator[Path]:
    """`ordergate gateway-sim --replay --account U…` and the paper config both processes read."""
    config = tmp_path / "ordergate.toml"
    config.write_text(
        f'mode = "paper"\noperator_id = "E2E"\n\n[broker]\nport = {_free_port()}\n'
        'connect_timeout = 5.0\nrequest_timeout = 10.0\n\n[session]\nseed = 3\nbars = 20\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ordergate.adapters.cli.main", "gateway-sim", "--replay",
         "--config", str(config), "--account", LIVE],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "listening on" not in line:
            line = process.stdout.readline()
            assert line or process.poll() is None, "the emulator exited before listening"
            assert time.monotonic() < deadline, "the emulator did not start listening"
        yield config
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_ordergate_run_exits_3_against_a_gateway_logged_into_a_live_account(
    live_gateway: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "run.db"
    run = subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", "run", "--broker", "ibkr",
         "--config", str(live_gateway), "--audit", str(audit), "--quiet"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert LIVE in run.stderr
    exported = subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", "audit", "export", "--path",
         str(audit)],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, check=True,
    )
    kinds = [json.loads(line)["kind"] for line in exported.stdout.splitlines() if line.strip()]
    assert "broker.account_mismatch" in kinds
    assert "broker.submit" not in kinds
