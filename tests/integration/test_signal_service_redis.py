"""`SignalService` over a real Redis stream: consumer group, ack after processing, reclaim after a
crash, and the Redis trading control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters.control import RedisTradingControl, TradingControlError
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.redis import RedisSignalSource
from ordergate.adapters.redis.testing import RedisSignalSourceHarness
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.signal_source import SignalDelivery, SignalSource

pytestmark = pytest.mark.services

VISIBILITY = 0.3
T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
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

    def gate(self, audit: AuditLog | None = None) -> OrderGate:
        self.audit = audit or InMemoryAuditLog(self.store, clock=self.clock)
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

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        await self.ack(delivery_id)

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


async def dead_letters(h: RedisSignalSourceHarness) -> list[dict[bytes, bytes]]:
    return [fields for _id, fields in await h.client.xrange(h.redis_source.dead_letter_stream)]


async def test_a_poison_entry_is_quarantined_alone_and_the_signals_after_it_are_processed(
    harness: RedisSignalSourceHarness,
) -> None:
    account = Account()
    poison = "[" * 5_000 + "]" * 5_000  # json.loads raises RecursionError on it
    await harness.push_raw(poison)
    for number in range(5):
        await harness.push(signal(f"S{number}"))
    options = ServiceOptions(receive_timeout=0.1, monitor_interval=None, max_signals=6)
    async with account.gate() as gate:
        service = SignalService(gate, harness.source, account.clock, options=options)
        summary = await asyncio.wait_for(service.run(asyncio.Event()), 20)
        [malformed] = await account.audit.query(kind="signal.malformed")
    assert (summary.malformed, summary.gated, summary.source_errors) == (1, 5, 0)
    assert account.submits() == 5
    assert "deep" in str(malformed.record.payload["error"])
    assert await pending(harness) == 0
    [letter] = await dead_letters(harness)
    assert letter[b"data"] == poison.encode()
    assert letter[b"reason"].startswith(b"malformed: ")
    assert letter[b"delivery_id"].decode() == malformed.record.payload["delivery_id"]


async def test_a_dead_letter_stream_keeps_only_its_bound(redis_url: str) -> None:
    h = await RedisSignalSourceHarness.create(redis_url, visibility_timeout=VISIBILITY)
    source = RedisSignalSource(h.client, stream=h.stream, group="bounded", dead_letter_maxlen=3)
    try:
        for number in range(5):
            await h.push_raw(f"bad {number}")
        for delivery in await source.receive(max_count=10, timeout=1.0):
            await source.quarantine(delivery.delivery_id, "malformed")
        letters = await h.client.xrange(source.dead_letter_stream)
        assert [b"bad 2", b"bad 3", b"bad 4"] == [fields[b"data"] for _id, fields in letters]
        assert [] == await h.client.xpending_range(h.stream, "bounded", "-", "+", 10)
    finally:
        await h.close()


async def test_a_signal_that_failed_is_not_submitted_again_after_a_restart(
    harness: RedisSignalSourceHarness, tmp_path: Path
) -> None:
    """Run 1 records S1 as failed (the broker does not know MSFT yet) and dies before its ack.
    Run 2, on the same SQLite file and stream, reclaims it — and the producer sends it again —
    after the broker learnt MSFT: both are duplicates, nothing is sent."""
    account = Account()
    path = tmp_path / "audit.db"
    await harness.push(Signal(SignalId("S1"), MSFT, Side.BUY, T0, quantity=Decimal(5)))
    dying = DiesAtAck(harness.source)
    gate = account.gate(await SqliteAuditLog.open(path))
    await gate.start()
    task = asyncio.create_task(
        SignalService(gate, dying, account.clock, options=OPTIONS).run(asyncio.Event())
    )
    await asyncio.wait_for(dying.reached.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await gate.stop()
    assert account.submits() == 0

    account.broker.add_instrument(MSFT)
    account.broker.set_price(MSFT, Decimal(50))
    account.market.add_instrument(MSFT)
    account.market.set_price(MSFT, Decimal(50))
    await harness.push(Signal(SignalId("S1"), MSFT, Side.BUY, T0, quantity=Decimal(5)))
    await asyncio.sleep(VISIBILITY + 0.1)
    restarted_source = RedisSignalSource(
        harness.client, stream=harness.stream, group="contract", visibility_timeout=VISIBILITY
    )
    options = ServiceOptions(receive_timeout=0.1, monitor_interval=None, max_signals=2)
    async with account.gate(await SqliteAuditLog.open(path)) as restarted:
        summary = await SignalService(
            restarted, restarted_source, account.clock, options=options
        ).run(asyncio.Event())
        verified = await restarted.verify_audit()
    assert (summary.duplicates, summary.gated, summary.failed) == (2, 0, 0)
    assert account.submits() == 0
    assert await pending(harness) == 0
    assert verified.ok
