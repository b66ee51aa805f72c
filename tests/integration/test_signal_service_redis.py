"""`SignalService` over a real Redis stream: consumer group, ack after processing, reclaim after a
crash, and the Redis trading control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.control import RedisTradingControl, TradingControlError
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.redis import RedisSignalSource
from ordergate.adapters.redis.testing import RedisSignalSourceHarness
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.signal_source import SignalDelivery, SignalSource

pytestmark = pytest.mark.services

VISIBILITY = 0.3
T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
OPTIONS = ServiceOptions(receive_timeout=0.1, monitor_interval=None)


def signal(sid: str) -> Signal:
    return Signal(SignalId(sid), AAPL, Side.BUY, T0, quantity=Decimal(5))


class Account:
    """A fake broker account and an audit store that outlive one gate."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL])
        self.market = FakeMarketData(self.clock, [AAPL])
        self.broker.set_price(AAPL, Decimal(100))
        self.market.set_price(AAPL, Decimal(100))
        self.store = MemoryAuditStore()

    def gate(self) -> OrderGate:
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)
        ports = Ports(self.broker, self.market, self.audit, self.clock, InMemoryPublisher())
        return OrderGate(ports, GateOptions(operator_id="CSATSPRIM"))

    def submits(self) -> int:
        return len(self.broker.calls_to("submit"))


class DiesAtAck:
    """A source that hangs at its first ack: the test kills the consumer there."""

    def __init__(self, inner: SignalSource) -> None:
        self.inner = inner
        self.reached = asyncio.Event()

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        return await self.inner.receive(max_count=max_count, timeout=timeout)

    async def ack(self, delivery_id: str) -> None:
        self.reached.set()
        await asyncio.Event().wait()

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def harness(redis_url: str) -> AsyncIterator[RedisSignalSourceHarness]:
    h = await RedisSignalSourceHarness.create(redis_url, visibility_timeout=VISIBILITY)
    try:
        yield h
    finally:
        await h.close()


async def pending(h: RedisSignalSourceHarness) -> int:
    summary = await h.client.xpending(h.stream, "contract")
    return int(summary["pending"])


async def test_stream_signals_are_gated_once_and_every_delivery_is_acked(
    harness: RedisSignalSourceHarness,
) -> None:
    account = Account()
    await harness.push(signal("S1"))
    await harness.push_raw("{broken")
    await harness.push(signal("S1"))
    await harness.push(signal("S2"))
    options = ServiceOptions(receive_timeout=0.1, monitor_interval=None, max_signals=4)
    async with account.gate() as gate:
        service = SignalService(gate, harness.source, account.clock, options=options)
        summary = await service.run(asyncio.Event())
        malformed = await account.audit.query(kind="signal.malformed")
    assert (summary.gated, summary.malformed, summary.duplicates) == (2, 1, 1)
    assert account.submits() == 2
    assert "{broken" in str(malformed[0].record.payload["raw"])
    assert await pending(harness) == 0


async def test_delivery_of_a_consumer_that_died_before_ack_is_reclaimed_and_not_resent(
    harness: RedisSignalSourceHarness,
) -> None:
    account = Account()
    await harness.push(signal("S1"))
    dying = DiesAtAck(harness.source)
    gate = account.gate()
    await gate.start()
    task = asyncio.create_task(
        SignalService(gate, dying, account.clock, options=OPTIONS).run(asyncio.Event())
    )
    await asyncio.wait_for(dying.reached.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await gate.stop()
    assert await pending(harness) == 1

    other = RedisSignalSource(
        harness.client,
        stream=harness.stream,
        group="contract",
        consumer="restarted",
        visibility_timeout=VISIBILITY,
    )
    await asyncio.sleep(VISIBILITY + 0.1)
    options = ServiceOptions(receive_timeout=0.1, monitor_interval=None, max_signals=1)
    async with account.gate() as restarted:
        summary = await SignalService(restarted, other, account.clock, options=options).run(
            asyncio.Event()
        )
    assert summary.duplicates == 1
    assert account.submits() == 1
    assert await pending(harness) == 0


async def test_redis_trading_control_halts_the_service(harness: RedisSignalSourceHarness) -> None:
    account = Account()
    control = RedisTradingControl(harness.client, key=f"{harness.prefix}:control")
    assert await control.requested_state() is None
    await control.request(TradingState.HALTED, "risk desk says stop")
    await harness.push(signal("S1"))
    options = ServiceOptions(receive_timeout=0.1, monitor_interval=None, max_signals=1)
    async with account.gate() as gate:
        service = SignalService(
            gate, harness.source, account.clock, options=options, control=control
        )
        summary = await service.run(asyncio.Event())
        assert gate.trading_state is TradingState.HALTED
    [denied] = summary.results
    assert denied.decision is not None
    assert RiskCode.TRADING_HALTED in denied.decision.codes
    assert account.submits() == 0
    assert await pending(harness) == 0


async def test_redis_control_with_a_bad_value_names_the_key(
    harness: RedisSignalSourceHarness,
) -> None:
    key = f"{harness.prefix}:control"
    await harness.client.set(key, '{"state": "STOPPED"}')
    with pytest.raises(TradingControlError) as error:
        await RedisTradingControl(harness.client, key=key).requested_state()
    assert key in str(error.value)
    assert "STOPPED" in str(error.value)
