"""The IB connection manager: backoff schedule, circuit breaker, paper/live detection, heartbeat
and health, IB connectivity codes (1100/2110 degrade, 1101/1102 resync, 502/504 reconnect), and
connecting to nothing — the rules on their own, then through the emulator on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.ibkr.connection import IbkrConfig
from ordergate.adapters.ibkr.health import (
    BackoffPolicy,
    ConnectionBreaker,
    ModeMismatch,
    TradingMode,
    detect_mode,
    mode_for_account,
    mode_for_port,
)
from ordergate.adapters.ibkr.testing import IbkrBrokerHarness, harness_config
from ordergate.domain.errors import BrokerError
from ordergate.domain.events import ConnectionState, ConnectionStateChanged
from ordergate.domain.risk.decision import BreakerState

pytestmark = pytest.mark.timeout(60)

B = BreakerState
S = ConnectionState


# -- the rules -------------------------------------------------------------------------------------
def test_backoff_doubles_from_one_second_to_a_thirty_second_cap_over_ten_attempts() -> None:
    assert [1, 2, 4, 8, 16, 30, 30, 30, 30] == BackoffPolicy().delays()


def test_breaker_opens_after_five_failures_and_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = ConnectionBreaker(5, 60.0, lambda: now[0])
    for _ in range(4):
        breaker.record_failure()
    assert (B.CLOSED, True) == (breaker.state, breaker.allow())
    breaker.record_failure()
    assert (B.OPEN, False, 60.0) == (breaker.state, breaker.allow(), breaker.retry_in())
    now[0] = 59.9
    assert B.OPEN == breaker.state
    now[0] = 60.0
    assert (B.HALF_OPEN, True) == (breaker.state, breaker.allow())
    breaker.record_failure()  # the probe failed: open again for a full cooldown
    assert (B.OPEN, 60.0) == (breaker.state, breaker.retry_in())
    now[0] = 120.0
    assert B.HALF_OPEN == breaker.state
    breaker.record_success()
    assert (B.CLOSED, 0, 0.0) == (breaker.state, breaker.failures, breaker.retry_in())


@pytest.mark.parametrize(("port", "mode"), [
    (4002, TradingMode.PAPER), (7497, TradingMode.PAPER), (4001, TradingMode.LIVE),
    (7496, TradingMode.LIVE), (49152, TradingMode.UNKNOWN),
])
def test_ports_tell_paper_from_live(port: int, mode: TradingMode) -> None:
    assert mode == mode_for_port(port)


def test_accounts_tell_paper_from_live() -> None:
    assert [TradingMode.PAPER, TradingMode.LIVE, TradingMode.UNKNOWN] == [
        mode_for_account(a) for a in ("DU1234567", "U7654321", "")]


def test_port_and_account_must_agree() -> None:
    assert TradingMode.PAPER == detect_mode(4002, "DU1")
    assert TradingMode.LIVE == detect_mode(4001, "U1", TradingMode.LIVE)
    assert TradingMode.PAPER == detect_mode(0, "DU1", TradingMode.PAPER)
    with pytest.raises(ModeMismatch, match="port 4001 is a live port but account 'DU1'"):
        detect_mode(4001, "DU1")
    with pytest.raises(ModeMismatch, match="configured for live"):
        detect_mode(4002, "DU1", TradingMode.LIVE)


# -- through the emulator --------------------------------------------------------------------------
class States:
    """The connection states a broker publishes, recorded in the background."""

    def __init__(self, broker: IbkrBroker) -> None:
        self.events: list[ConnectionStateChanged] = []
        stream = broker.events()

        async def record() -> None:
            async for event in stream:
                if isinstance(event, ConnectionStateChanged):
                    self.events.append(event)

        self._task = asyncio.ensure_future(record())

    def seen(self) -> list[tuple[ConnectionState, int | None]]:
        return [(e.state, e.code) for e in self.events]

    async def wait_for(self, state: ConnectionState, code: int | None = None) -> None:
        async def poll() -> None:
            while (state, code) not in self.seen():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), 10.0)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def harness() -> AsyncIterator[IbkrBrokerHarness]:
    h = await IbkrBrokerHarness.create(heartbeat_interval=0.2, heartbeat_timeout=0.3)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def states(harness: IbkrBrokerHarness) -> AsyncIterator[States]:
    s = States(harness.ibkr)
    try:
        yield s
    finally:
        await s.close()


async def test_health_is_typed_and_the_heartbeat_keeps_it_fresh(
    harness: IbkrBrokerHarness,
) -> None:
    first = harness.ibkr.connection_health()
    await asyncio.sleep(0.5)
    health = harness.ibkr.connection_health()
    assert health.healthy
    assert (S.CONNECTED, TradingMode.PAPER, B.CLOSED, 0) == (
        health.state, health.mode, health.breaker, health.heartbeat_misses)
    assert first.last_heartbeat is not None
    assert health.last_heartbeat is not None
    assert health.last_heartbeat > first.last_heartbeat  # beats went out (reqCurrentTime)
    assert 2 <= len(harness.server.received(49)) - 1  # one more at connect


async def test_a_silent_gateway_fails_the_heartbeat_and_forces_a_reconnect(
    harness: IbkrBrokerHarness, states: States
) -> None:
    await harness.stall(1.5)
    await states.wait_for(S.RECONNECTING)
    await states.wait_for(S.CONNECTED)
    assert "heartbeat missed" in states.events[0].detail
    assert harness.ibkr.is_connected()


@pytest.mark.parametrize("code", [1100, 2110])
async def test_ib_connectivity_loss_degrades_the_connection(
    harness: IbkrBrokerHarness, states: States, code: int
) -> None:
    harness.server.broadcast_code(code)
    await states.wait_for(S.DEGRADED, code)
    assert harness.ibkr.is_connected()  # the socket is up: reducing orders may still go
    assert not harness.ibkr.connection_health().healthy


@pytest.mark.parametrize(("code", "full"), [(1102, False), (1101, True)])
async def test_ib_connectivity_restored_resyncs_then_reconnects_the_state(
    harness: IbkrBrokerHarness, states: States, code: int, full: bool
) -> None:
    harness.server.connectivity_lost()
    await states.wait_for(S.DEGRADED, 1100)
    resyncs = len(harness.ibkr.resync.reports)
    harness.server.broadcast_code(code)
    await states.wait_for(S.CONNECTED, code)
    assert resyncs + 1 == len(harness.ibkr.resync.reports)
    assert full == harness.ibkr.resync.reports[-1].full


@pytest.mark.parametrize("code", [502, 504])
async def test_not_connected_errors_force_a_reconnect(
    harness: IbkrBrokerHarness, states: States, code: int
) -> None:
    (session,) = harness.server.all_sessions()
    harness.server.send(session, m.error(-1, code, "Not connected"))
    await states.wait_for(S.RECONNECTING)
    await states.wait_for(S.CONNECTED)
    assert [(S.RECONNECTING, None), (S.CONNECTED, None)] == states.seen()
    assert f"IB error {code}" in states.events[0].detail


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connecting_to_nothing_retries_then_the_breaker_refuses_fast() -> None:
    config = IbkrConfig(operator_id="CT", port=_closed_port(), probe_interval=None,
                        backoff=BackoffPolicy(initial=0.01, cap=0.02, attempts=5))
    broker = IbkrBroker(config)
    try:
        with pytest.raises(BrokerError, match="after 5 attempts"):
            await broker.connect(timeout=5.0)
        health = broker.connection_health()
        assert (S.DISCONNECTED, B.OPEN, False) == (health.state, health.breaker, health.healthy)
        with pytest.raises(BrokerError, match="circuit breaker is open"):
            await broker.connect(timeout=5.0)
    finally:
        await broker.close()


async def test_a_live_config_refuses_a_paper_account_without_retrying() -> None:
    harness = await IbkrBrokerHarness.create()
    try:
        config = harness_config(harness.server.port, client_id=7,
                                expected_mode=TradingMode.LIVE)
        broker = IbkrBroker(config)
        try:
            with pytest.raises(ModeMismatch, match="configured for live"):
                await broker.connect(timeout=5.0)
            for _ in range(200):  # the adapter hung up at once; wait for the emulator to see it
                if 7 not in harness.server.sessions:
                    break
                await asyncio.sleep(0.005)
            assert 7 not in harness.server.sessions
            assert [] == [f for cid, f in harness.server.requests if cid == 7 and f[0] == "3"]
        finally:
            await broker.close()
    finally:
        await harness.close()


async def test_requests_wait_for_the_reconnect_within_their_timeout(
    harness: IbkrBrokerHarness, states: States, record_property: Any
) -> None:
    task = asyncio.ensure_future(harness.server.restart(0.3))
    await states.wait_for(S.RECONNECTING)
    positions = await harness.ibkr.positions(timeout=5.0)  # waits for the reconnect
    await task
    assert [] == positions
