"""InstantEngine and its ledger, driven directly (no socket): the engine behind the emulator."""

from __future__ import annotations

import ast
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters import gateway_sim
from ordergate.adapters.gateway_sim.catalogue import Catalogue
from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineRefusal,
    GatewayEngine,
    OrderExecuted,
    OrderUpdated,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    ContractQuery,
    ContractSpec,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    SecType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.instant_engine import InstantEngine
from ordergate.adapters.gateway_sim.ledger import Ledger
from ordergate.domain.values import Side

D = Decimal


@pytest.fixture
def engine() -> InstantEngine:
    return InstantEngine()


@pytest.fixture
def events(engine: InstantEngine) -> list[EngineEvent]:
    seen: list[EngineEvent] = []
    engine.add_listener(seen.append)
    return seen


@pytest.fixture
def aapl(engine: InstantEngine) -> ContractSpec:
    (spec,) = engine.qualify(ContractQuery(symbol="AAPL", sec_type=SecType.STOCK))
    return spec


def test_instant_engine_has_every_member_of_the_engine_protocol() -> None:
    members = [n for n in vars(GatewayEngine) if not n.startswith("_")]
    missing = [n for n in members if not callable(getattr(InstantEngine, n, None))]
    assert missing == []


def test_the_emulator_package_never_imports_ib_async() -> None:
    package = Path(gateway_sim.__file__).parent
    offenders = []
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{source.name}: {n}" for n in names if n.split(".")[0] == "ib_async"]
    assert offenders == []


def test_an_order_is_announced_before_its_execution_and_filled_after(
    engine: InstantEngine, events: list[EngineEvent], aapl: ContractSpec
) -> None:
    engine.place_order(OrderKey(1, 1), aapl, OrderSpec(Side.BUY, D(10)))
    kinds = [
        (type(e).__name__, e.order.status if isinstance(e, OrderUpdated) else None)
        for e in events
    ]
    assert kinds == [
        ("OrderUpdated", OrderStatus.HELD),
        ("OrderUpdated", OrderStatus.WORKING),
        ("OrderExecuted", None),
        ("OrderUpdated", OrderStatus.FILLED),
    ]
    execution = next(e.execution for e in events if isinstance(e, OrderExecuted))
    assert (execution.price, execution.commission, execution.perm_id) == (
        D("190.01"), D("1.00"), events[0].order.perm_id)  # type: ignore[union-attr]


def test_reusing_the_id_of_a_done_order_is_refused(
    engine: InstantEngine, aapl: ContractSpec
) -> None:
    engine.place_order(OrderKey(1, 1), aapl, OrderSpec(Side.BUY, D(1)))
    with pytest.raises(EngineRefusal) as caught:
        engine.place_order(OrderKey(1, 1), aapl, OrderSpec(Side.BUY, D(1)))
    assert caught.value.reason is RefusalReason.DUPLICATE_ORDER_ID


def test_the_same_order_id_from_another_client_is_a_different_order(
    engine: InstantEngine, aapl: ContractSpec
) -> None:
    engine.place_order(OrderKey(1, 1), aapl, OrderSpec(Side.BUY, D(1)))
    engine.place_order(OrderKey(2, 1), aapl, OrderSpec(Side.BUY, D(1)))
    assert len(engine.executions()) == 2


def test_a_modification_cannot_change_side(engine: InstantEngine, aapl: ContractSpec) -> None:
    limit = OrderSpec(Side.BUY, D(1), OrderType.LIMIT, limit_price=D(100))
    engine.place_order(OrderKey(1, 1), aapl, limit)
    with pytest.raises(EngineRefusal) as caught:
        engine.place_order(OrderKey(1, 1), aapl,
                           OrderSpec(Side.SELL, D(1), OrderType.LIMIT, limit_price=D(300)))
    assert caught.value.reason is RefusalReason.MODIFY_NOT_ALLOWED


def test_cancelling_a_filled_order_is_refused(engine: InstantEngine, aapl: ContractSpec) -> None:
    engine.place_order(OrderKey(1, 1), aapl, OrderSpec(Side.BUY, D(1)))
    with pytest.raises(EngineRefusal) as caught:
        engine.cancel_order(OrderKey(1, 1))
    assert caught.value.reason is RefusalReason.NOT_CANCELLABLE


@pytest.mark.parametrize(
    "spec",
    [
        OrderSpec(Side.BUY, D(1), OrderType.LIMIT),
        OrderSpec(Side.BUY, D(1), OrderType.LIMIT, limit_price=D("100.005")),
        OrderSpec(Side.BUY, D("1.5")),
        OrderSpec(Side.BUY, D(1), OrderType.TRAILING_STOP),
        OrderSpec(Side.BUY, D(1), OrderType.LIMIT, limit_price=D(1), tif=TimeInForce.GTD),
    ],
    ids=["no-limit", "off-tick", "fractional", "no-trail", "gtd-without-date"],
)
def test_invalid_orders_are_refused_and_change_nothing(
    engine: InstantEngine, aapl: ContractSpec, spec: OrderSpec
) -> None:
    with pytest.raises(EngineRefusal) as caught:
        engine.place_order(OrderKey(1, 1), aapl, spec)
    assert caught.value.reason is RefusalReason.INVALID_ORDER
    assert (engine.open_orders(), engine.completed_orders()) == ([], [])


def test_ledger_realises_pnl_when_crossing_through_zero(aapl: ContractSpec) -> None:
    ledger = Ledger("DU1", D(100_000))
    assert ledger.apply_fill(aapl, Side.BUY, D(100), D(10), D(1)) is None
    assert ledger.apply_fill(aapl, Side.SELL, D(150), D(12), D(1)) == D(200)
    position = ledger.position(aapl.con_id, lambda _: D(11))
    assert position is not None
    assert (position.quantity, position.avg_price) == (D(-50), D(12))
    assert ledger.apply_fill(aapl, Side.BUY, D(50), D(11), D(1)) == D(50)
    assert ledger.cash == D(100_000) + D(250) - D(3)


def test_option_positions_use_the_multiplier_for_cash(engine: InstantEngine) -> None:
    options = engine.qualify(ContractQuery(symbol="SPY", sec_type=SecType.OPTION))
    call = options[0]
    engine.place_order(OrderKey(1, 1), call, OrderSpec(Side.BUY, D(2)))
    (fill,) = engine.executions()
    snapshot = engine.account_snapshot("DU1234567")
    assert snapshot.total_cash == D(1_000_000) - fill.price * 200 - fill.commission


def test_option_con_ids_are_stable_from_day_to_day() -> None:
    today = date(2026, 11, 2)
    first = {s.local_symbol: s.con_id for s in Catalogue.standard(today)}
    later = {s.local_symbol: s.con_id for s in Catalogue.standard(today + timedelta(days=1))}
    shared = first.keys() & later.keys()
    assert shared
    assert all(first[k] == later[k] for k in shared)


def test_engine_satisfies_the_protocol_statically() -> None:
    engine: GatewayEngine = InstantEngine()  # mypy checks this assignment against the Protocol
    assert engine.accounts() == ("DU1234567",)
