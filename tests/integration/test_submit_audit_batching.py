"""What the gate writes before a send, on a real SQLite audit file.

The decisions of an approved order (or bracket) and its `broker.submit` record are made durable in
one `append_many` — one transaction, one fsync — and only then does the broker see the order; the
broker's answer is its own append afterwards. A failure of that one write sends nothing. A log
without `append_many` (the in-memory one) gets the same records in the same order, one by one.

The audit log and broker are real adapters subclassed only to note, on a shared timeline, each
write once it returned and each order as it reaches the broker; the broker also reads the log
(through a fresh connection: committed rows only) at that moment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.serialization import AuditStoreError
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import ExecutionMode, OrderResultStatus
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import BrokerOrderId, CorrelationId, Side, SignalId
from ordergate.ports.audit_log import AuditLog

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
Step = tuple[str, ...]


ADOPTION = "adoption.report"  # the one record a gate writes as it starts

class RecordingSqliteAuditLog(SqliteAuditLog):
    """`SqliteAuditLog` noting each write (method and kinds) on `timeline` once it returned."""

    timeline: list[Step]

    async def append(self, record: AuditRecord) -> AuditEntry:
        entry = await super().append(record)
        self.timeline.append(("append", record.kind))
        return entry

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        entries = await super().append_many(records)
        self.timeline.append(("append_many", *(r.kind for r in records)))
        return entries


class BatchFailingSqliteAuditLog(RecordingSqliteAuditLog):
    """A SQLite log whose batch write fails, as a full disk would fail it."""

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        raise AuditStoreError("audit append failed, nothing stored: database or disk is full")


class RecordingInMemoryAuditLog(InMemoryAuditLog):
    """`InMemoryAuditLog` noting each write on `timeline`."""

    timeline: list[Step]

    async def append(self, record: AuditRecord) -> AuditEntry:
        entry = await super().append(record)
        self.timeline.append(("append", record.kind))
        return entry

    async def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        entries = await super().append_many(records)
        self.timeline.append(("append_many", ",".join(r.kind for r in records)))
        return entries


class WitnessBroker(FakeBroker):
    """A `FakeBroker` that notes each order on `timeline` and reads the log as it arrives."""

    timeline: list[Step]
    audit: AuditLog
    stored_at_send: list[list[AuditRecord]]

    async def submit(self, order: ApprovedOrder, *, timeout: float) -> BrokerOrderId:
        await self._witness((order,))
        return await super().submit(order, timeout=timeout)

    async def submit_list(
        self, orders: tuple[ApprovedOrder, ...], *, timeout: float
    ) -> tuple[BrokerOrderId, ...]:
        await self._witness(orders)
        return await super().submit_list(orders, timeout=timeout)

    async def _witness(self, orders: Sequence[ApprovedOrder]) -> None:
        self.timeline.append(("broker", *(o.request.client_order_id.value for o in orders)))
        self.stored_at_send.append([e.record for e in await self.audit.query()])


class Rig:
    def __init__(self, audit: Any, mode: ExecutionMode = ExecutionMode.PAPER) -> None:
        self.timeline: list[Step] = []
        self.clock = FakeClock(T0)
        self.broker = WitnessBroker(self.clock, [AAPL])
        self.broker.timeline, self.broker.audit = self.timeline, audit
        self.broker.stored_at_send = []
        audit.timeline = self.timeline
        self.audit = audit
        market = FakeMarketData(self.clock, [AAPL])
        self.broker.set_price(AAPL, Decimal(100))
        market.set_price(AAPL, Decimal(100))
        self.gate = OrderGate(
            Ports(self.broker, market, audit, self.clock, InMemoryPublisher()),
            GateOptions(mode=mode, operator_id="CSATSPRIM", limits=RiskLimits()),
        )

    def before_broker(self) -> list[Step]:
        """The writes the order made before it reached the broker (all of them if none did).

        The gate's start writes exactly one record first, its adoption of the broker's state
        (`adoption.report`); what the order itself writes comes after it."""
        assert ("append", ADOPTION) == self.timeline[0], self.timeline
        timeline = self.timeline[1:]
        sent = [i for i, step in enumerate(timeline) if step[0] == "broker"]
        return timeline[: sent[0]] if sent else list(timeline)

    def stored_at_send(self) -> list[list[AuditRecord]]:
        """What the log held when each order reached the broker, after the start's adoption."""
        stored = []
        for records in self.broker.stored_at_send:
            assert ADOPTION == records[0].kind, [r.kind for r in records]
            stored.append(records[1:])
        return stored


@pytest.fixture
async def sqlite_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    audit = await RecordingSqliteAuditLog.open(tmp_path / "audit.db")
    yield Rig(audit)
    await audit.close()


def market_signal(sid: str, qty: int = 10) -> Signal:
    return Signal(SignalId(sid), AAPL, Side.BUY, T0, quantity=Decimal(qty))


def bracket_signal(sid: str) -> Signal:
    return Signal(
        SignalId(sid),
        AAPL,
        Side.BUY,
        T0,
        quantity=Decimal(10),
        stop_loss=Decimal(95),
        take_profit=Decimal(110),
    )


async def test_approved_order_writes_decision_and_submit_in_one_batch_before_the_broker(
    sqlite_rig: Rig,
) -> None:
    async with sqlite_rig.gate as gate:
        [result] = await gate.submit_signal(market_signal("S1"))
        await gate.settle()
    assert result.ok, result.reason
    expected = [("append", "broker.qualify"), ("append_many", "risk.decision", "broker.submit")]
    assert expected == sqlite_rig.before_broker()


async def test_decision_and_submit_are_committed_when_the_broker_sees_the_order(
    sqlite_rig: Rig,
) -> None:
    async with sqlite_rig.gate as gate:
        await gate.submit_signal(market_signal("S1"))
        await gate.settle()
    [stored] = sqlite_rig.stored_at_send()
    assert ["broker.qualify", "risk.decision", "broker.submit"] == [r.kind for r in stored]
    decision, submit = stored[1], stored[2]
    assert True is decision.payload["approved"]
    assert "S1-E" == decision.payload["request"]["client_order_id"]
    assert {"client_order_ids": ["S1-E"]} == dict(submit.payload)
    assert (T0, CorrelationId("S1")) == (submit.ts, submit.correlation_id)


async def test_broker_answer_is_its_own_append_after_the_call(sqlite_rig: Rig) -> None:
    async with sqlite_rig.gate as gate:
        await gate.submit_signal(market_signal("S1"))
        await gate.settle()
        [answer] = await sqlite_rig.audit.query(kind="broker.submit_result")
    sent = sqlite_rig.timeline.index(("broker", "S1-E"))
    assert ("append", "broker.submit_result") in sqlite_rig.timeline[sent:]
    assert {"client_order_ids": ["S1-E"], "status": "SENT", "reason": ""} == {
        k: answer.record.payload[k] for k in ("client_order_ids", "status", "reason")
    }


async def test_bracket_writes_three_decisions_and_one_submit_in_one_batch(
    sqlite_rig: Rig,
) -> None:
    async with sqlite_rig.gate as gate:
        results = await gate.submit_signal(bracket_signal("B1"))
        await gate.settle()
    assert 3 == len(results)
    batch = ("append_many", "risk.decision", "risk.decision", "risk.decision", "broker.submit")
    assert [("append", "broker.qualify"), batch] == sqlite_rig.before_broker()
    [stored] = sqlite_rig.stored_at_send()
    assert {"client_order_ids": ["B1-E", "B1-TP", "B1-SL"]} == dict(stored[-1].payload)


async def test_denied_order_keeps_its_single_decision_append(tmp_path: Path) -> None:
    audit = await RecordingSqliteAuditLog.open(tmp_path / "audit.db")
    rig = Rig(audit)
    async with rig.gate as gate:
        [result] = await gate.submit_signal(market_signal("S1", qty=10**9))
    await audit.close()
    assert OrderResultStatus.DENIED == result.status
    assert [("append", "broker.qualify"), ("append", "risk.decision")] == rig.before_broker()
    assert [] == rig.broker.calls_to("submit")


async def test_dry_run_writes_the_decision_and_no_submit_record(tmp_path: Path) -> None:
    audit = await RecordingSqliteAuditLog.open(tmp_path / "audit.db")
    rig = Rig(audit, mode=ExecutionMode.DRY_RUN)
    async with rig.gate as gate:
        [result] = await gate.submit_signal(market_signal("S1"))
    await audit.close()
    assert OrderResultStatus.SIMULATED == result.status
    assert [("append", "broker.qualify"), ("append", "risk.decision")] == rig.before_broker()


async def test_failed_batch_write_sends_nothing_and_stores_no_decision(tmp_path: Path) -> None:
    audit = await BatchFailingSqliteAuditLog.open(tmp_path / "audit.db")
    rig = Rig(audit)
    async with rig.gate as gate:
        [result] = await gate.submit_signal(market_signal("S1"))
        kinds = [e.record.kind for e in await audit.query()]
    await audit.close()
    assert OrderResultStatus.FAILED == result.status
    assert "audit log failed" in result.reason
    assert "nothing was sent" in result.reason
    assert [] == rig.broker.calls_to("submit") + rig.broker.calls_to("submit_list")
    assert [ADOPTION, "broker.qualify"] == kinds


async def test_failed_batch_write_of_a_bracket_sends_none_of_it(tmp_path: Path) -> None:
    audit = await BatchFailingSqliteAuditLog.open(tmp_path / "audit.db")
    rig = Rig(audit)
    async with rig.gate as gate:
        results = await gate.submit_signal(bracket_signal("B1"))
    await audit.close()
    assert [OrderResultStatus.FAILED] * 3 == [r.status for r in results]
    assert [] == rig.broker.calls_to("submit") + rig.broker.calls_to("submit_list")


async def test_the_in_memory_log_gets_the_same_single_batch_before_the_broker() -> None:
    rig = Rig(RecordingInMemoryAuditLog(clock=FakeClock(T0)))
    async with rig.gate as gate:
        await gate.submit_signal(market_signal("S1"))
        await gate.settle()
    expected = [
        ("append", "broker.qualify"),
        ("append_many", "risk.decision,broker.submit"),
    ]
    assert expected == rig.before_broker()
    [stored] = rig.stored_at_send()
    assert ["broker.qualify", "risk.decision", "broker.submit"] == [r.kind for r in stored]
