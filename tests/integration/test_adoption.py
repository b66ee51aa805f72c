"""Issue 11 part 1: a gate that starts adopts the broker's truth — its own working orders of an
earlier process (managed after the restart: modify, cancel, the bracket's OCO group), other
operators' orders as foreign, executions missed while no process listened, and positions — so
`reconcile(dry_run=True)` on a consistent account finds no difference."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.service_lock import ServiceLock, ServiceLocked
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import OrderResultStatus
from ordergate.application.service import ServiceOptions, SignalService
from ordergate.domain.events import ReconciliationDiff
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderStatus, OrderType, TimeInForce
from ordergate.domain.risk.decision import TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")


class Account:
    """One fake broker account that outlives the gates (processes) connected to it."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL])
        self.market = FakeMarketData(self.clock, [AAPL])
        self.broker.set_price(AAPL, Decimal(100))
        self.market.set_price(AAPL, Decimal(100))
        self.stores: dict[str, MemoryAuditStore] = {}

    def gate(self, operator: str = "OPA") -> OrderGate:
        store = self.stores.setdefault(operator, MemoryAuditStore())
        audit = InMemoryAuditLog(store, clock=self.clock)
        ports = Ports(self.broker, self.market, audit, self.clock, InMemoryPublisher())
        return OrderGate(ports, GateOptions(operator_id=operator))


def _bracket(sid: str) -> Signal:
    return Signal(
        SignalId(sid),
        AAPL,
        Side.BUY,
        T0,
        quantity=Decimal(10),
        stop_loss=Decimal(95),
        take_profit=Decimal(110),
    )


async def test_a_restarted_gate_adopts_and_manages_its_working_bracket() -> None:
    account = Account()
    async with account.gate() as first:
        results = await first.submit_signal(_bracket("B1"))
        await first.settle()
        assert all(r.status is not OrderResultStatus.DENIED for r in results)
        legs = sorted(o.client_order_id.value for o in first.portfolio.working_orders())
        assert len(legs) == 2  # the entry filled; stop and target work (one OCA group)
    # "restart": a new gate, the same account and audit log
    async with account.gate() as second:
        assert second.adoption is not None
        assert sorted(c.value for c in second.adoption.adopted) == legs
        assert second.portfolio.position_qty(AAPL.id) == Decimal(10)
        working = {o.client_order_id.value: o for o in second.portfolio.working_orders()}
        assert sorted(working) == legs
        groups = {o.request.oca_group for o in working.values()}
        assert len(groups) == 1  # the OCO link is adopted too
        assert None not in groups
        assert (await second.reconcile(dry_run=True)).clean
        stop = next(o for o in working.values() if o.request.order_type is OrderType.STOP)
        target = next(o for o in working.values() if o.request.order_type is OrderType.LIMIT)
        changed = await second.modify(stop.client_order_id, stop_price=Decimal(97))
        await second.settle()
        assert changed.status is not OrderResultStatus.DENIED, changed
        assert second.portfolio.order(stop.client_order_id).stop_price == Decimal(97)
        [view] = [
            v
            for v in await second.broker_open_orders()
            if v.client_order_id == stop.client_order_id
        ]
        assert view.stop_price == Decimal(97)  # the broker has the change
        # the stop triggers at the broker: its OCA partner is cancelled, the position closed
        account.broker.fill(stop.client_order_id)
        await second.settle()
        assert second.portfolio.position_qty(AAPL.id) == Decimal(0)
        assert second.portfolio.order(target.client_order_id).status is OrderStatus.CANCELED
        assert (await second.reconcile(dry_run=True)).clean


async def test_a_restarted_gate_cancels_an_adopted_order() -> None:
    account = Account()
    async with account.gate() as first:
        await first.submit_signal(
            Signal(
                SignalId("L1"),
                AAPL,
                Side.BUY,
                T0,
                quantity=Decimal(5),
                order_type=OrderType.LIMIT,
                limit_price=Decimal(98),
                time_in_force=TimeInForce.GTC,
            )
        )
        await first.settle()
    async with account.gate() as second:
        [order] = list(second.portfolio.working_orders())
        result = await second.cancel(order.client_order_id)
        await second.settle()
        assert result.status is not OrderResultStatus.DENIED
        assert await second.broker_open_orders() == []
        assert second.portfolio.order(order.client_order_id).status is OrderStatus.CANCELED


async def test_another_operators_order_is_foreign_and_no_difference() -> None:
    account = Account()
    async with account.gate("OTHER") as other:
        await other.submit_signal(
            Signal(
                SignalId("X1"),
                AAPL,
                Side.BUY,
                T0,
                quantity=Decimal(5),
                order_type=OrderType.LIMIT,
                limit_price=Decimal(97),
                time_in_force=TimeInForce.GTC,
            )
        )
        await other.settle()
    async with account.gate("OPA") as ours:
        assert ours.adoption is not None
        assert [c.value for c in ours.adoption.foreign] == ["X1-E"]
        assert ours.adoption.adopted == ()
        assert list(ours.portfolio.working_orders()) == []  # never ours to manage
        assert (await ours.reconcile(dry_run=True)).clean


async def test_fills_missed_while_no_process_ran_are_recovered_once() -> None:
    account = Account()
    async with account.gate() as first:
        await first.submit_signal(
            Signal(
                SignalId("L2"),
                AAPL,
                Side.BUY,
                T0,
                quantity=Decimal(5),
                order_type=OrderType.LIMIT,
                limit_price=Decimal(98),
                time_in_force=TimeInForce.GTC,
            )
        )
        await first.settle()
        [order] = list(first.portfolio.working_orders())
    account.broker.fill(ClientOrderId(order.client_order_id.value))  # nobody listening
    async with account.gate() as second:
        assert second.adoption is not None
        assert second.adoption.recovered == 1
        assert second.portfolio.position_qty(AAPL.id) == Decimal(5)
        assert (await second.reconcile(dry_run=True)).clean
    async with account.gate() as third:  # known from the audit now: re-applied, not recovered
        assert third.adoption is not None
        assert (third.adoption.recovered, third.adoption.reapplied) == (0, 1)
        assert third.portfolio.position_qty(AAPL.id) == Decimal(5)


def test_the_serve_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    path = tmp_path / "audit.serve.lock"
    with ServiceLock.acquire(path, account="DU1") as held:
        with pytest.raises(ServiceLocked) as refused:
            ServiceLock.acquire(path)
        assert f"pid {held.holder['pid']}" in str(refused.value)
        assert "started" in str(refused.value)
    ServiceLock.acquire(path).release()  # released: free again


async def test_the_divergence_watch_audits_publishes_and_reduces_on_an_unexplained_difference() -> (
    None
):
    account = Account()
    async with account.gate() as first:
        await first.submit_signal(Signal(SignalId("D1"), AAPL, Side.BUY, T0, quantity=Decimal(10)))
        await first.settle()
    publisher = InMemoryPublisher()
    audit = InMemoryAuditLog(account.stores["OPA"], clock=account.clock)
    ports = Ports(account.broker, account.market, audit, account.clock, publisher)
    async with OrderGate(ports, GateOptions(operator_id="OPA")) as gate:
        service = SignalService(
            gate,
            InMemorySignalSource(account.clock),
            account.clock,
            options=ServiceOptions(reconcile_interval=1.0),
        )
        await service.watch_divergence()  # consistent: nothing to say
        assert service.summary.divergences == 0
        assert gate.trading_state is TradingState.ACTIVE
        # The position leaves the account at the broker without an execution (a transfer out,
        # a settlement nobody reported): nothing the broker reports explains the gap
        account.broker._account._positions.pop(AAPL.id)
        await service.watch_divergence()
        await gate.settle()
        errors = [e.record.payload for e in await audit.query(kind="service.reconcile_error")]
        assert service.summary.divergences == 1, errors
        assert service.summary.unexplained == 1
        assert gate.trading_state is TradingState.REDUCING
        [diff] = [e for e in publisher.events() if isinstance(e, ReconciliationDiff)]
        assert (diff.kind, diff.key, diff.ours, diff.broker) == ("position", "AAPL", "10", "0")
        assert "not explained" in diff.cause
        audited = [e.record for e in await audit.query() if "AAPL" in str(e.record.payload)]
        assert any(r.payload.get("cause") == diff.cause for r in audited)
