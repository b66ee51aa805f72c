"""The broker-event pump in batches: what is waiting is recorded with one audit write, then
applied and published in arrival order; nothing is applied before its record is durable; the
loop is given back between batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.serialization import AuditStoreError
from ordergate.application.desk import TradingDesk
from ordergate.application.events import BrokerEventProcessor, cancel_task
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import (
    BreakerTripped,
    ConnectionState,
    ConnectionStateChanged,
    FillRecovered,
    PnLSnapshot,
    PositionSnapshot,
    TradingStateChanged,
)
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
    TimeInForce,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk.breakers import BreakerConfig
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.values import ClientOrderId, ExecutionId, Side
from ordergate.ports.broker import BrokerEvent

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
PRICE = Decimal(180)
ORDERS = 5
FILLS_PER_ORDER = 10


class BulkAuditLog(InMemoryAuditLog):
    """The in-memory log, counting its writes.

    Records the size of every durable write (`writes`; a single append is a write of 1) and,
    when told, fails every write from the `fail_from`-th on, as a full disk would. `stall(turns)`
    makes the next write take that many turns of the event loop, as an fsync would.
    """

    def __init__(self, fail_from: int | None = None) -> None:
        super().__init__()
        self.writes: list[int] = []
        self.fail_from = fail_from
        self._stall = 0

    def stall(self, turns: int) -> None:
        self._stall = turns

    async def append(self, record: AuditRecord) -> AuditEntry:
        await self._write(1)
        return await super().append(record)

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        await self._write(len(records))
        return [await super(BulkAuditLog, self).append(record) for record in records]

    async def _write(self, size: int) -> None:
        turns, self._stall = self._stall, 0
        for _ in range(turns):
            await asyncio.sleep(0)
        if self.fail_from is not None and len(self.writes) + 1 >= self.fail_from:
            raise AuditStoreError("audit write failed: disk full")
        self.writes.append(size)


class Stream:
    """A broker event stream backed by a queue, as the adapters' streams are."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[BrokerEvent | None] = asyncio.Queue()
        self.failure: Exception | None = None
        self.sent: set[int] = set()

    def put(self, *events: BrokerEvent) -> None:
        for event in events:
            self.sent.add(id(event))
            self._queue.put_nowait(event)

    def end(self) -> None:
        self._queue.put_nowait(None)

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> BrokerEvent:
        event = await self._queue.get()
        if event is None:
            if self.failure is not None:
                raise self.failure
            raise StopAsyncIteration
        return event


class Rig:
    """A processor over a desk holding `ORDERS` submitted buy limits of `FILLS_PER_ORDER`."""

    def __init__(
        self,
        audit: InMemoryAuditLog,
        max_batch: int = 8,
        breakers: BreakerConfig | None = None,
    ) -> None:
        self.clock = FakeClock(T0)
        self.portfolio = Portfolio(Decimal(10_000_000))
        self.audit = audit
        self.publisher = InMemoryPublisher()
        self.processor = BrokerEventProcessor(
            desk=TradingDesk(self.portfolio, RiskLimits(), breakers),
            audit=audit,
            clock=self.clock,
            publisher=self.publisher,
            max_batch=max_batch,
        )
        self.stream = Stream()
        for n in range(ORDERS):
            order = Order.from_request(request(n))
            self.portfolio.add_order(order)
            order.apply(OrderLifecycleEvent(order_id(n), OrderEventKind.SUBMITTED, T0, T0))

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.processor.pump(self.stream))

    def filled(self) -> Decimal:
        return sum(
            (self.portfolio.order(order_id(n)).filled_qty for n in range(ORDERS)), Decimal(0)
        )

    async def recorded(self, kind: str) -> list[AuditRecord]:
        return [e.record for e in await self.audit.query(kind=kind)]

    def published(self) -> list[object]:
        """What was published, without the snapshots the gate derives after each fill (the
        broker's own snapshots stay)."""
        return [
            event
            for _, event in self.publisher.published
            if not isinstance(event, PositionSnapshot | PnLSnapshot)
            or id(event) in self.stream.sent
        ]


def order_id(n: int) -> ClientOrderId:
    return ClientOrderId(f"O-{n}")


def request(n: int) -> OrderRequest:
    return OrderRequest(
        order_id(n),
        AAPL,
        Side.BUY,
        Decimal(FILLS_PER_ORDER),
        OrderType.LIMIT,
        limit_price=PRICE,
        time_in_force=TimeInForce.GTC,
    )


def fill(n: int, k: int) -> ExecutionFill:
    return ExecutionFill(
        order_id(n),
        ExecutionId(f"E-{n}-{k}"),
        AAPL.id,
        Side.BUY,
        Decimal(1),
        PRICE,
        T0,
        T0,
    )


def commission(n: int, k: int) -> CommissionReport:
    return CommissionReport(ExecutionId(f"E-{n}-{k}"), Decimal("0.35"), T0, T0)


def burst() -> list[BrokerEvent]:
    """An ack per order, then every one-share fill round robin, each with its commission."""
    events: list[BrokerEvent] = [
        OrderLifecycleEvent(order_id(n), OrderEventKind.ACCEPTED, T0, T0) for n in range(ORDERS)
    ]
    for k in range(FILLS_PER_ORDER):
        for n in range(ORDERS):
            events += [fill(n, k), commission(n, k)]
    return events


async def test_a_burst_is_recorded_with_one_write_per_batch() -> None:
    audit = BulkAuditLog()
    rig = Rig(audit, max_batch=40)
    events = burst()  # 105 events
    rig.stream.put(*events)
    pump = rig.start()
    await rig.processor.settle()
    assert [40, 40, 25] == audit.writes
    assert len(events) == rig.processor.processed
    assert Decimal(ORDERS * FILLS_PER_ORDER) == rig.filled()
    await cancel_task(pump)


async def test_events_are_recorded_applied_and_published_in_arrival_order() -> None:
    rig = Rig(BulkAuditLog(), max_batch=7)
    events = burst()
    rig.stream.put(*events)
    pump = rig.start()
    await rig.processor.settle()
    recorded = [e.record.payload for e in await rig.audit.query()]
    expected = [
        e.execution_id.value if not isinstance(e, OrderLifecycleEvent) else e.kind.value
        for e in events
    ]
    assert expected == [p.get("execution_id", p.get("kind")) for p in recorded]
    assert events == rig.published()
    await cancel_task(pump)


async def test_every_fill_is_followed_by_its_position_and_the_pnl_snapshot() -> None:
    rig = Rig(BulkAuditLog(), max_batch=7)
    rig.stream.put(OrderLifecycleEvent(order_id(0), OrderEventKind.ACCEPTED, T0, T0))
    rig.stream.put(fill(0, 0), fill(0, 1))
    pump = rig.start()
    await rig.processor.settle()
    kinds = [type(e).__name__ for _, e in rig.publisher.published]
    assert [
        "OrderLifecycleEvent",
        "ExecutionFill",
        "PositionSnapshot",
        "PnLSnapshot",
        "ExecutionFill",
        "PositionSnapshot",
        "PnLSnapshot",
    ] == kinds
    positions = [e for _, e in rig.publisher.published if isinstance(e, PositionSnapshot)]
    assert [Decimal(1), Decimal(2)] == [p.quantity for p in positions]
    assert {PRICE} == {p.avg_price for p in positions}
    (last_pnl,) = [e for _, e in rig.publisher.published if isinstance(e, PnLSnapshot)][-1:]
    assert rig.portfolio.equity() == last_pnl.equity
    # the same topics on every publisher (adapters/topics.py): seed 002's names
    topics = {
        t for t, e in rig.publisher.published if isinstance(e, PositionSnapshot | PnLSnapshot)
    }
    assert {"positions:stream", "pnl:stream"} == topics
    await cancel_task(pump)


async def test_events_arriving_one_at_a_time_are_each_applied_at_once() -> None:
    audit = BulkAuditLog()
    rig = Rig(audit)
    pump = rig.start()
    for k in range(3):
        rig.stream.put(fill(0, k))
        await rig.processor.settle()
        assert Decimal(k + 1) == rig.filled()
    assert [1, 1, 1] == audit.writes  # a lone event takes the single append
    await cancel_task(pump)


async def test_an_audit_failure_mid_burst_applies_nothing_unaudited_and_stops_the_pump() -> None:
    audit = BulkAuditLog(fail_from=2)
    rig = Rig(audit, max_batch=10)
    rig.stream.put(*burst())
    pump = rig.start()
    await rig.processor.settle()  # returns: a stopped pump is idle
    assert pump.done()
    with pytest.raises(AuditStoreError, match="disk full"):
        pump.result()
    assert [10] == audit.writes
    fills = await rig.recorded("broker.fill")
    assert Decimal(len(fills)) == rig.filled()  # the first batch: its 5 acks, 3 fills
    assert Decimal(3) == rig.filled()
    assert len(await rig.audit.query()) == len(rig.published())


async def test_a_duplicate_fill_is_recorded_each_time_and_applied_once() -> None:
    rig = Rig(BulkAuditLog())
    rig.stream.put(fill(0, 0), fill(0, 0), commission(0, 0))
    pump = rig.start()
    await rig.processor.settle()
    assert 2 == len(await rig.recorded("broker.fill"))
    assert Decimal(1) == rig.filled()
    assert Decimal("0.35") == rig.portfolio.order(order_id(0)).commission
    await cancel_task(pump)


async def test_the_pump_gives_the_loop_back_between_batches() -> None:
    audit = BulkAuditLog()
    audit.stall(50)  # while the first batch is written, the whole burst reaches the pump
    rig = Rig(audit, max_batch=6)
    events = burst()
    rig.stream.put(*events)
    applied_by_turn: list[int] = []

    async def ticker() -> None:
        while len(applied_by_turn) < 1000:
            applied_by_turn.append(len(rig.published()))
            await asyncio.sleep(0)

    ticks = asyncio.create_task(ticker())
    pump = rig.start()
    await rig.processor.settle()
    steps = [b - a for a, b in pairwise(applied_by_turn)]
    assert len(events) == len(rig.published())
    assert 6 == max(steps)
    await cancel_task(ticks)
    await cancel_task(pump)


async def test_the_pump_ends_with_its_stream_after_processing_what_it_read() -> None:
    rig = Rig(BulkAuditLog())
    events = burst()
    rig.stream.put(*events)
    rig.stream.end()
    await rig.start()
    assert events == rig.published()


async def test_a_failing_stream_ends_the_pump_with_its_error_after_what_it_delivered() -> None:
    rig = Rig(BulkAuditLog())
    rig.stream.failure = ConnectionResetError("stream lost")
    rig.stream.put(fill(0, 0))
    rig.stream.end()
    with pytest.raises(ConnectionResetError, match="stream lost"):
        await rig.start()
    assert Decimal(1) == rig.filled()


async def test_settle_waits_for_a_burst_put_after_it_started() -> None:
    rig = Rig(BulkAuditLog(), max_batch=4)
    pump = rig.start()
    events = burst()
    rig.stream.put(*events)
    await rig.processor.settle()
    assert events == rig.published()
    await cancel_task(pump)


async def test_a_mixed_batch_is_recorded_in_arrival_order_and_what_it_caused_after_it() -> None:
    rig = Rig(BulkAuditLog(), max_batch=100, breakers=BreakerConfig(max_consecutive_rejections=2))
    unknown_instrument = ExecutionFill(
        order_id(2), ExecutionId("E-MSFT"), MSFT.id, Side.BUY, Decimal(1), PRICE, T0, T0
    )
    events: list[BrokerEvent] = [
        ConnectionStateChanged(ConnectionState.DISCONNECTED, ConnectionState.CONNECTED, T0, T0),
        PositionSnapshot(AAPL.id, Decimal(0), None, T0, T0),
        OrderLifecycleEvent(ClientOrderId("ELSEWHERE"), OrderEventKind.ACCEPTED, T0, T0),
        OrderLifecycleEvent(order_id(0), OrderEventKind.REJECTED, T0, T0),
        OrderLifecycleEvent(order_id(1), OrderEventKind.REJECTED, T0, T0),
        unknown_instrument,
        fill(3, 0),
    ]
    rig.stream.put(*events)
    pump = rig.start()
    await rig.processor.settle()
    kinds = [e.record.kind for e in await rig.audit.query()]
    assert [
        "broker.connection",
        "broker.order",
        "broker.order",
        "broker.order",
        "broker.fill",
        "broker.fill",
        "risk.trading_state",  # the lost link: REDUCING
        "risk.breaker_tripped",
        "broker.event_error",
    ] == kinds
    published = rig.published()
    assert events == [
        e for e in published if not isinstance(e, BreakerTripped | TradingStateChanged)
    ]
    assert isinstance(published[0], TradingStateChanged)  # applying the lost link: REDUCING
    assert isinstance(published[5], BreakerTripped)  # while applying the rejection that tripped it
    assert events[4] == published[6]
    assert ConnectionState.DISCONNECTED is rig.processor.connection
    assert Decimal(1) == rig.filled()
    assert [1] == [len(rig.processor.errors)]
    await cancel_task(pump)


async def test_a_fill_recovered_by_reconciliation_is_recorded_then_applied() -> None:
    audit = BulkAuditLog()
    rig = Rig(audit)
    await rig.processor.handle(FillRecovered(fill(0, 0), T0, T0))
    assert ["broker.fill_recovered"] == [e.record.kind for e in await audit.query()]
    assert [1] == audit.writes
    assert Decimal(1) == rig.filled()


def test_a_batch_must_hold_at_least_one_event() -> None:
    with pytest.raises(InvalidValue, match="max_batch: must be at least 1"):
        Rig(BulkAuditLog(), max_batch=0)
