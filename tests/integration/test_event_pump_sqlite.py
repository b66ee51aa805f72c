"""The gate's broker-event pump on a real SQLite audit file: a burst of fills is made durable in
a few `append_many` transactions (not one fsync per event), in broker order, and the chain
verifies; a failed write applies nothing of its batch.

The audit log is the real adapter, subclassed only to note the size of each bulk write and, when
told, to fail one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.serialization import AuditStoreError
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderRequest, OrderType, TimeInForce
from ordergate.domain.values import ClientOrderId, Side

T0 = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
MARKET = Decimal(190)
LIMIT = Decimal(180)
ORDERS = 5
SHARES = 20


class CountingSqliteAuditLog(SqliteAuditLog):
    """`SqliteAuditLog` noting the size of each `append_many`; `fail_bulk_writes` makes every
    later one raise, as a full disk would."""

    bulk_writes: list[int]
    failing: bool = False

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        if self.failing:
            raise AuditStoreError("audit write failed: disk full")
        entries = await super().append_many(records)
        self.bulk_writes.append(len(records))
        return entries


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[CountingSqliteAuditLog]:
    log = await CountingSqliteAuditLog.open(tmp_path / "audit.sqlite3")
    assert isinstance(log, CountingSqliteAuditLog)
    log.bulk_writes = []
    try:
        yield log
    finally:
        await log.close()


def requests() -> list[OrderRequest]:
    return [
        OrderRequest(
            ClientOrderId(f"O-{n}"),
            AAPL,
            Side.BUY,
            Decimal(SHARES),
            OrderType.LIMIT,
            limit_price=LIMIT,
            time_in_force=TimeInForce.GTC,
        )
        for n in range(ORDERS)
    ]


async def resting_orders(audit: SqliteAuditLog) -> tuple[OrderGate, FakeBroker]:
    """A started gate with `ORDERS` resting buy limits of `SHARES`, every ack processed."""
    clock = FakeClock(T0)
    broker = FakeBroker(clock, [AAPL])
    broker.set_price(AAPL, MARKET)
    market = FakeMarketData(clock, [AAPL])
    market.set_price(AAPL, MARKET)
    gate = OrderGate(Ports(broker, market, audit, clock, InMemoryPublisher()), GateOptions())
    await gate.start()
    for request in requests():
        assert (await gate.submit_request(request)).ok
    await gate.settle()
    return gate, broker


def fill_burst(broker: FakeBroker) -> list[str]:
    """One-share fills of every order, round robin, emitted at once (each with its commission);
    their execution ids in broker order."""
    return [
        broker.fill(request.client_order_id, Decimal(1), LIMIT).execution_id.value
        for _ in range(SHARES)
        for request in requests()
    ]


async def test_a_burst_of_fills_is_made_durable_in_one_transaction_per_batch(
    audit: CountingSqliteAuditLog,
) -> None:
    gate, broker = await resting_orders(audit)
    audit.bulk_writes.clear()
    emitted = fill_burst(broker)
    await gate.settle()
    assert [2 * ORDERS * SHARES] == audit.bulk_writes  # 200 events: far below one batch
    assert Decimal(ORDERS * SHARES) == gate.portfolio.position_qty(AAPL.id)
    entries = await audit.query()
    burst = [e.record for e in entries if e.record.kind in ("broker.fill", "broker.commission")]
    fills = [r.payload["execution_id"] for r in burst if r.kind == "broker.fill"]
    commissions = [r.payload["execution_id"] for r in burst if r.kind == "broker.commission"]
    assert emitted == fills
    assert emitted == commissions
    assert [k for _ in emitted for k in ("broker.fill", "broker.commission")] == [
        r.kind for r in burst
    ]
    assert (await audit.verify()).ok
    await gate.stop()


async def test_a_failed_bulk_write_applies_nothing_of_its_batch(
    audit: CountingSqliteAuditLog,
) -> None:
    gate, broker = await resting_orders(audit)
    stored = len(await audit.query())
    audit.failing = True
    fill_burst(broker)
    await gate.settle()
    assert Decimal(0) == gate.portfolio.position_qty(AAPL.id)
    assert stored == len(await audit.query())
    with pytest.raises(AuditStoreError, match="disk full"):
        await gate.stop()  # the pump stopped on the failure; stopping the gate reports it
