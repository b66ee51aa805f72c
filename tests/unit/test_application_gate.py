"""The application's order path on fakes: decide → audit (durable) → broker, and nothing else."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import ExecutionMode, OrderResultStatus
from ordergate.domain.errors import OrdergateError
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import ClosureReason, OrderStatus
from ordergate.domain.risk.decision import RiskCode, TradingState
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId
from ordergate.ports.broker import Broker

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
CALL = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)


class Rig:
    def __init__(self, mode: ExecutionMode = ExecutionMode.PAPER, **limits: object) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL, CALL])
        self.market = FakeMarketData(self.clock, [AAPL, CALL])
        self.audit = InMemoryAuditLog(clock=self.clock)
        self.publisher = InMemoryPublisher()
        self.gate = OrderGate(
            Ports(self.broker, self.market, self.audit, self.clock, self.publisher),
            GateOptions(
                mode=mode,
                operator_id="CSATSPRIM",
                limits=RiskLimits(**limits),  # type: ignore[arg-type]
            ),
        )

    def price(self, px: str, instrument: Stock | OptionContract = AAPL) -> None:
        self.broker.set_price(instrument, Decimal(px))
        self.market.set_price(instrument, Decimal(px))

    async def kinds(self) -> list[str]:
        return [e.record.kind for e in await self.audit.query()]


def signal(sid: str, qty: int, side: Side = Side.BUY) -> Signal:
    return Signal(SignalId(sid), AAPL, side, T0, quantity=Decimal(qty))


async def test_approved_signal_is_audited_before_it_reaches_the_broker() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        [result] = await gate.submit_signal(signal("S1", 10))
        await gate.settle()
        assert result.status in (OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED)
        entries = await rig.audit.query()
        kinds = [e.record.kind for e in entries]
        decision_at = kinds.index("risk.decision")
        assert kinds.index("broker.submit") > decision_at
        assert entries[decision_at].record.payload["approved"] is True
        assert [c.method for c in rig.broker.calls_to("submit")] == ["submit"]
        assert gate.portfolio.position_qty(AAPL.id) == Decimal(10)
        assert gate.order_status(ClientOrderId("S1-E")).status is OrderResultStatus.FILLED
        order = gate.portfolio.order(ClientOrderId("S1-E"))
        assert order.request.operator_id == "CSATSPRIM"
        assert "broker.fill" in await rig.kinds()


async def test_denied_signal_never_reaches_the_broker() -> None:
    rig = Rig(max_position=Decimal(5))
    rig.price("100")
    async with rig.gate as gate:
        [result] = await gate.submit_signal(signal("S1", 10))
        assert result.status is OrderResultStatus.DENIED
        assert result.decision is not None
        assert RiskCode.MAX_POSITION in result.decision.codes
        assert "max_position" in result.reason
        assert rig.broker.calls_to("submit") == []
        assert gate.portfolio.order(ClientOrderId("S1-E")).status is OrderStatus.DENIED


async def test_duplicate_signal_is_denied() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        await gate.submit_signal(signal("S1", 1))
        again = Signal(SignalId("S1"), AAPL, Side.BUY, T0, quantity=Decimal(1))
        [result] = await gate.submit_signal(again)
        assert result.status is OrderResultStatus.DENIED
        assert len(rig.broker.calls_to("submit")) == 1


async def test_audit_failure_stops_the_order() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        await rig.audit.close()  # the store is gone: every append raises
        [result] = await gate.submit_signal(signal("S1", 10))
        assert result.status is OrderResultStatus.FAILED
        assert "audit log failed" in result.reason
        assert rig.broker.calls_to("submit") == []
        rig.audit = InMemoryAuditLog(clock=rig.clock)


async def test_dry_run_runs_the_gate_and_sends_nothing() -> None:
    rig = Rig(mode=ExecutionMode.DRY_RUN)
    rig.price("100")
    async with rig.gate as gate:
        [result] = await gate.submit_signal(signal("S1", 10))
        assert result.status is OrderResultStatus.SIMULATED
        assert rig.broker.calls_to("submit") == []
        assert "risk.decision" in await rig.kinds()


async def test_bracket_signal_sends_three_gated_orders() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        bracket = Signal(
            SignalId("B1"),
            AAPL,
            Side.BUY,
            T0,
            quantity=Decimal(10),
            stop_loss=Decimal(95),
            take_profit=Decimal(110),
        )
        results = await gate.submit_signal(bracket)
        assert [r.client_order_id.value for r in results] == ["B1-E", "B1-TP", "B1-SL"]
        assert [c.method for c in rig.broker.calls_to("submit_list")] == ["submit_list"]
        await gate.settle()
        rig.price("110")
        await gate.settle()
        assert gate.portfolio.position_qty(AAPL.id) == 0
        assert gate.portfolio.order(ClientOrderId("B1-SL")).status is OrderStatus.CANCELED


async def test_halted_blocks_new_risk_but_not_closures() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        await gate.submit_signal(signal("S1", 10))
        await gate.settle()
        await gate.halt("operator says stop")
        assert gate.trading_state is TradingState.HALTED
        [denied] = await gate.submit_signal(signal("S2", 1))
        assert denied.status is OrderResultStatus.DENIED
        assert denied.decision is not None
        assert RiskCode.TRADING_HALTED in denied.decision.codes
        closed = await gate.close_position(AAPL.id, ClosureReason.MANUAL)
        assert closed.status in (OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED)
        await gate.settle()
        assert gate.portfolio.position_qty(AAPL.id) == 0
        assert "risk.trading_state" in await rig.kinds()


async def test_strategy_c_closes_an_option_at_three_days_to_expiry() -> None:
    rig = Rig()
    rig.price("3.00", CALL)
    async with rig.gate as gate:
        option_signal = Signal(SignalId("O1"), CALL, Side.BUY, T0, quantity=Decimal(2))
        [opened] = await gate.submit_signal(option_signal)
        await gate.settle()
        assert gate.portfolio.position_qty(CALL.id) == Decimal(2)
        report = await gate.monitor()
        assert report.closures == ()  # 11 days to expiry, no loss
        rig.clock.set(datetime(2024, 1, 16, 15, 0, tzinfo=UTC))  # 3 DTE
        rig.price("3.10", CALL)
        report = await gate.monitor()
        await gate.settle()
        [flag] = report.review.flags
        assert flag.reason is ClosureReason.THREE_DTE
        assert [r.closure_reason for r in report.closures] == [ClosureReason.THREE_DTE]
        assert gate.portfolio.position_qty(CALL.id) == 0
        assert opened.status in (OrderResultStatus.SUBMITTED, OrderResultStatus.FILLED)


async def test_reconcile_dry_run_reports_and_sends_nothing() -> None:
    rig = Rig()
    rig.price("100")
    async with rig.gate as gate:
        await gate.submit_signal(signal("S1", 10))
        await gate.settle()
        report = await gate.reconcile(dry_run=True)
        assert report.clean
        submits = len(rig.broker.calls_to("submit"))
        assert report.recovered == ()
        assert submits == 1


def _public_values(obj: object) -> list[object]:
    values = []
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except OrdergateError:  # a typed refusal (e.g. `simulation` off the sim): nothing exposed
            continue
        if not inspect.isroutine(value):
            values.append(value)
    return values


def test_no_public_object_reaches_broker_submit() -> None:
    """Walk every public attribute of the facade (and theirs): none is a Broker or has submit
    other than the facade's own gated methods."""
    rig = Rig()
    seen: set[int] = set()
    frontier: list[object] = [rig.gate]
    while frontier:
        obj = frontier.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | Decimal | datetime):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, Broker), f"public path exposes a Broker: {obj!r}"
        if obj is not rig.gate:
            assert not hasattr(obj, "submit"), f"public object with submit: {obj!r}"
        if hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
            frontier.extend(_public_values(obj))
        if isinstance(obj, dict):
            frontier.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            frontier.extend(obj)
    assert len(seen) > 5


def test_gate_methods_that_send_are_the_documented_ones() -> None:
    senders = {
        name
        for name, _ in inspect.getmembers(OrderGate, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert {"submit_signal", "submit_request", "close_position", "close_all", "flatten"} <= senders
    rig = Rig()
    with pytest.raises(AttributeError):
        rig.gate.broker  # type: ignore[attr-defined]  # noqa: B018
