"""The facade's broker queries and `resync_from_broker`: how a restarted gate learns its positions
from the broker and can then flatten them — without any public path to `Broker.submit`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import ClosureReason, OrderIntent, OrderType
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")


class Desk:
    """One broker account that outlives the gates connected to it (a restart = a new gate)."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL, MSFT])
        self.market = FakeMarketData(self.clock, [AAPL, MSFT])
        self.store = MemoryAuditStore()
        for instrument, px in ((AAPL, "100"), (MSFT, "50")):
            self.broker.set_price(instrument, Decimal(px))
            self.market.set_price(instrument, Decimal(px))

    def gate(self) -> OrderGate:
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)
        ports = Ports(self.broker, self.market, self.audit, self.clock, InMemoryPublisher())
        return OrderGate(ports, GateOptions(operator_id="CSATSPRIM"))

    async def buy(self, sid: str, instrument: Stock, qty: int, side: Side = Side.BUY) -> None:
        async with self.gate() as gate:
            await gate.submit_signal(
                Signal(SignalId(sid), instrument, side, T0, quantity=Decimal(qty))
            )


async def test_broker_positions_and_open_orders_report_the_broker_truth() -> None:
    desk = Desk()
    await desk.buy("S1", AAPL, 10)
    async with desk.gate() as gate:
        [held] = await gate.broker_positions()
        assert (held.instrument_id, held.quantity) == (AAPL.id, Decimal(10))
        assert await gate.broker_open_orders() == []
        # a new gate adopts the broker's truth when it starts (issue 11): the position is known
        assert [(p.instrument_id, p.quantity) for p in gate.positions()] == [
            (AAPL.id, Decimal(10))
        ]


async def test_resync_rebuilds_positions_at_the_broker_average_cost_and_audits_it() -> None:
    desk = Desk()
    await desk.buy("S1", AAPL, 10)
    await desk.buy("S2", MSFT, 4, Side.SELL)
    sent_before = len(desk.broker.calls_to("submit"))
    async with desk.gate() as gate:
        # start adopted the broker's executions already; take the portfolio back to nothing to
        # exercise the residual resync on its own
        for position in list(gate.portfolio.open_positions()):
            gate.portfolio.positions.pop(position.instrument_id)
        fills = await gate.resync_from_broker()
        records = [e.record for e in await desk.audit.query(kind="portfolio.resync")]
        assert sorted(f.execution_id.value.split("-")[1] for f in fills) == ["AAPL", "MSFT"]
        assert gate.portfolio.position_qty(AAPL.id) == Decimal(10)
        assert gate.portfolio.position_qty(MSFT.id) == Decimal(-4)
        aapl = gate.portfolio.position(AAPL.id)
        assert aapl is not None
        assert aapl.avg_open_price == Decimal(100)
        assert {r.payload["instrument"] for r in records} == {"AAPL", "MSFT"}
        assert all(r.payload["applied"] for r in records)
        assert await gate.resync_from_broker() == ()  # already in step: nothing more
    assert len(desk.broker.calls_to("submit")) == sent_before  # resync sends nothing


async def test_flatten_after_resync_closes_every_broker_position_with_intent_flatten() -> None:
    desk = Desk()
    await desk.buy("S1", AAPL, 10)
    await desk.buy("S2", MSFT, 4, Side.SELL)
    async with desk.gate() as gate:
        await gate.halt("operator stop")
        await gate.resync_from_broker()
        report = await gate.flatten()
        results = report.closures
        await gate.settle()
        assert report.ok
        assert {r.status for r in results} <= {
            OrderResultStatus.SUBMITTED,
            OrderResultStatus.FILLED,
        }
        assert {r.closure_reason for r in results} == {ClosureReason.MANUAL}
        intents = {gate.portfolio.order(r.client_order_id).request.intent for r in results}
        assert intents == {OrderIntent.FLATTEN}
        assert await gate.broker_positions() == []


async def test_a_fill_missed_while_the_link_was_down_is_recovered_when_it_returns() -> None:
    # The restored link gives trading back only after a resync that matches the broker: the
    # gate's check applies the sale it could not hear, so there is nothing left to resync.
    desk = Desk()
    async with desk.gate() as gate:
        await gate.submit_signal(Signal(SignalId("S1"), AAPL, Side.BUY, T0, quantity=Decimal(3)))
        await gate.submit_signal(
            Signal(
                SignalId("S2"),
                AAPL,
                Side.SELL,
                T0,
                quantity=Decimal(3),
                order_type=OrderType.LIMIT,
                limit_price=Decimal(105),
            )
        )
        await gate.settle()
        desk.broker.drop_connection()
        desk.broker.fill(ClientOrderId("S2-E"))  # sold while we could not hear it
        desk.broker.restore_connection()
        await gate.settle()
        assert gate.portfolio.position_qty(AAPL.id) == 0
        [recovered] = await desk.audit.query(kind="broker.fill_recovered")
        assert recovered.record.payload["side"] == Side.SELL.value
        assert await gate.resync_from_broker() == ()


async def test_record_appends_an_application_record_and_signal_decided_reads_the_audit() -> None:
    desk = Desk()
    await desk.buy("S1", AAPL, 1)
    async with desk.gate() as gate:
        s1 = Signal(SignalId("S1"), AAPL, Side.BUY, T0, quantity=Decimal(1))
        s2 = Signal(SignalId("S2"), AAPL, Side.BUY, T0, quantity=Decimal(1))
        assert await gate.signal_decided(s1)  # decided by the earlier gate, found in the audit
        assert not await gate.signal_decided(s2)
        await gate.record("signal.note", {"n": 1})
        [entry] = await desk.audit.query(kind="signal.note")
        assert entry.record.payload == {"n": 1}
        assert entry.record.ts == T0
