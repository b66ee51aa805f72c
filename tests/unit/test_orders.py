"""The order aggregate: transitions, fills, modifications and commissions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordergate.domain.errors import DuplicateExecution, InvalidOrderTransition, InvalidValue
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import (
    TRANSITIONS,
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from ordergate.domain.values import BrokerOrderId, ClientOrderId, ExecutionId, InstrumentId, Side

NOW = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
CID = ClientOrderId("C1")
K = OrderEventKind


def request(qty: int = 100) -> OrderRequest:
    return OrderRequest(
        client_order_id=CID,
        instrument=Stock("AAPL"),
        side=Side.BUY,
        quantity=Decimal(qty),
        order_type=OrderType.LIMIT,
        limit_price=Decimal("10.00"),
    )


def ev(kind: OrderEventKind, **kw: object) -> OrderLifecycleEvent:
    return OrderLifecycleEvent(CID, kind, NOW, NOW, **kw)  # type: ignore[arg-type]


def fill(exec_id: str, qty: int, px: str = "10.00", commission: str | None = None) -> ExecutionFill:
    return ExecutionFill(
        CID,
        ExecutionId(exec_id),
        InstrumentId("AAPL"),
        Side.BUY,
        Decimal(qty),
        Decimal(px),
        NOW,
        NOW,
        commission=None if commission is None else Decimal(commission),
    )


def working(qty: int = 100) -> Order:
    order = Order.from_request(request(qty))
    order.apply(ev(K.SUBMITTED))
    order.apply(ev(K.ACCEPTED, broker_order_id=BrokerOrderId("77")))
    return order


def test_happy_path_to_filled() -> None:
    order = working()
    assert order.status is OrderStatus.ACCEPTED
    assert order.broker_order_id == BrokerOrderId("77")
    order.apply(fill("E1", 40, "10.00"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply(fill("E2", 60, "10.50"))
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == Decimal(100)
    assert order.leaves_qty == 0
    assert order.avg_px == Decimal("10.30")


def test_denied_is_terminal_and_never_submitted() -> None:
    order = Order.from_request(request())
    order.apply(ev(K.DENIED, reason="MAX_POSITION"))
    assert order.status is OrderStatus.DENIED
    with pytest.raises(InvalidOrderTransition, match="SUBMITTED is not allowed in status DENIED"):
        order.apply(ev(K.SUBMITTED))


def test_fill_on_initialized_order_is_invalid() -> None:
    order = Order.from_request(request())
    with pytest.raises(InvalidOrderTransition, match="FILL"):
        order.apply(fill("E1", 1))


def test_duplicate_fill_changes_nothing() -> None:
    order = working()
    assert order.apply(fill("E1", 40))
    assert not order.apply(fill("E1", 40))
    assert order.filled_qty == Decimal(40)


def test_conflicting_duplicate_execution_is_an_error() -> None:
    order = working()
    order.apply(fill("E1", 40))
    with pytest.raises(DuplicateExecution, match="E1"):
        order.apply(fill("E1", 41))


def test_overfill_is_refused() -> None:
    order = working()
    order.apply(fill("E1", 90))
    with pytest.raises(InvalidValue, match="overfill"):
        order.apply(fill("E2", 20))
    assert order.filled_qty == Decimal(90)


def test_commission_before_fill_attaches_when_fill_arrives() -> None:
    order = working()
    order.apply(CommissionReport(ExecutionId("E1"), Decimal("1.25"), NOW, NOW))
    order.apply(fill("E1", 100))
    assert order.fills[0].commission == Decimal("1.25")
    assert order.commission == Decimal("1.25")


def test_commission_after_fill_attaches_once() -> None:
    order = working()
    order.apply(fill("E1", 100))
    report = CommissionReport(ExecutionId("E1"), Decimal("1.00"), NOW, NOW)
    assert order.apply(report)
    assert not order.apply(report)
    assert order.commission == Decimal("1.00")


def test_modification_changes_order_only_when_confirmed() -> None:
    order = working()
    order.apply(ev(K.PENDING_UPDATE))
    assert order.status is OrderStatus.PENDING_UPDATE
    assert order.limit_price == Decimal("10.00")
    order.apply(ev(K.UPDATED, limit_price=Decimal("10.10"), quantity=Decimal(50)))
    assert order.status is OrderStatus.ACCEPTED
    assert (order.limit_price, order.quantity) == (Decimal("10.10"), Decimal(50))


def test_rejected_modification_returns_to_previous_status() -> None:
    order = working()
    order.apply(fill("E1", 10))
    order.apply(ev(K.PENDING_UPDATE))
    order.apply(ev(K.MODIFY_REJECTED))
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_modification_below_filled_quantity_is_refused() -> None:
    order = working()
    order.apply(fill("E1", 60))
    order.apply(ev(K.PENDING_UPDATE))
    with pytest.raises(InvalidValue, match="below the filled quantity 60"):
        order.apply(ev(K.UPDATED, quantity=Decimal(50)))


def test_reducing_quantity_to_filled_completes_the_order() -> None:
    order = working()
    order.apply(fill("E1", 60))
    order.apply(ev(K.PENDING_UPDATE))
    order.apply(ev(K.UPDATED, quantity=Decimal(60)))
    assert order.status is OrderStatus.FILLED


def test_cancel_rejected_returns_to_working() -> None:
    order = working()
    order.apply(ev(K.PENDING_CANCEL))
    order.apply(ev(K.CANCEL_REJECTED))
    assert order.status is OrderStatus.ACCEPTED


def test_fill_while_pending_cancel_stays_pending_until_filled() -> None:
    order = working()
    order.apply(ev(K.PENDING_CANCEL))
    order.apply(fill("E1", 30))
    assert order.status is OrderStatus.PENDING_CANCEL
    order.apply(ev(K.CANCEL_REJECTED))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    order.apply(fill("E2", 70))
    assert order.status is OrderStatus.FILLED


def test_fill_racing_a_cancel_is_recorded_and_status_stays_final() -> None:
    order = working()
    order.apply(ev(K.CANCELED))
    order.apply(fill("E1", 30))
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == Decimal(30)
    assert order.working_qty == 0
    assert order.filled_qty + order.leaves_qty == order.quantity


def test_repeated_final_status_is_ignored() -> None:
    order = working()
    order.apply(ev(K.CANCELED))
    assert not order.apply(ev(K.CANCELED))
    with pytest.raises(InvalidOrderTransition):
        order.apply(ev(K.PENDING_UPDATE))


def test_fill_for_another_order_is_refused() -> None:
    order = working()
    other = ExecutionFill(
        ClientOrderId("X"),
        ExecutionId("E9"),
        InstrumentId("AAPL"),
        Side.BUY,
        Decimal(1),
        Decimal(1),
        NOW,
        NOW,
    )
    with pytest.raises(InvalidValue, match="belongs to another order"):
        order.apply(other)


def test_table_never_leaves_a_terminal_state() -> None:
    for (status, _kind), target in TRANSITIONS.items():
        assert not status.is_terminal, (status, target)


def test_repr_mentions_status() -> None:
    assert "ACCEPTED" in repr(working())
