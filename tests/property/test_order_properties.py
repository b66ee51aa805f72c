"""Property tests of the order aggregate under any sequence of events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.errors import DuplicateExecution, InvalidOrderTransition, InvalidValue
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, InstrumentId, Side

NOW = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
CID = ClientOrderId("C1")


def new_order(qty: int) -> Order:
    return Order.from_request(
        OrderRequest(
            client_order_id=CID,
            instrument=Stock("AAPL"),
            side=Side.SELL,
            quantity=Decimal(qty),
            order_type=OrderType.MARKET,
        )
    )


lifecycle = st.builds(
    lambda kind, qty: OrderLifecycleEvent(
        CID,
        kind,
        NOW,
        NOW,
        quantity=None if qty is None or kind is not OrderEventKind.UPDATED else Decimal(qty),
    ),
    st.sampled_from(OrderEventKind),
    st.one_of(st.none(), st.integers(1, 200)),
)
fills = st.builds(
    lambda eid, qty, px: ExecutionFill(
        CID,
        ExecutionId(f"E{eid}"),
        InstrumentId("AAPL"),
        Side.SELL,
        Decimal(qty),
        Decimal(px),
        NOW,
        NOW,
    ),
    st.integers(0, 15),
    st.integers(1, 60),
    st.integers(1, 3),
)
commissions = st.builds(
    lambda eid, c: CommissionReport(ExecutionId(f"E{eid}"), Decimal(c), NOW, NOW),
    st.integers(0, 15),
    st.integers(0, 3),
)
events = st.lists(st.one_of(lifecycle, fills, commissions), max_size=40)


@settings(max_examples=400, deadline=None)
@given(qty=st.integers(1, 200), evs=events)
def test_invariants_hold_under_any_event_sequence(qty: int, evs: list[object]) -> None:
    order = new_order(qty)
    applied_exec: dict[ExecutionId, Decimal] = {}
    for event in evs:
        before = (order.status, order.filled_qty, order.quantity)
        try:
            order.apply(event)  # type: ignore[arg-type]
        except (InvalidOrderTransition, InvalidValue, DuplicateExecution):
            refused = True
        else:
            refused = False
        if refused:
            # A refused event leaves the order exactly as it was.
            assert before == (order.status, order.filled_qty, order.quantity)
            continue
        if before[0].is_terminal:
            assert order.status is before[0], "terminal states are final"
        if isinstance(event, ExecutionFill) and event.execution_id not in applied_exec:
            applied_exec[event.execution_id] = event.quantity
        assert order.filled_qty + order.leaves_qty == order.quantity
        assert Decimal(0) <= order.filled_qty <= order.quantity
        assert order.filled_qty == sum(applied_exec.values(), Decimal(0))
        if order.filled_qty == order.quantity and not order.status.is_terminal:
            raise AssertionError(f"fully filled order left in {order.status}")


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 10), min_size=1, max_size=8),
    order_seed=st.randoms(use_true_random=False),
    commission_first=st.lists(st.booleans(), min_size=8, max_size=8),
    repeats=st.lists(st.integers(0, 7), max_size=6),
)
def test_fills_are_idempotent_in_any_arrival_order(
    sizes: list[int], order_seed: object, commission_first: list[bool], repeats: list[int]
) -> None:
    """Same executions in any order, with duplicates and commissions before or after their fill,
    give the same filled quantity, average price and commission."""
    total = sum(sizes)
    fills_ = [
        ExecutionFill(
            CID,
            ExecutionId(f"E{i}"),
            InstrumentId("AAPL"),
            Side.SELL,
            Decimal(q),
            Decimal(10 + i),
            NOW,
            NOW,
        )
        for i, q in enumerate(sizes)
    ]
    reports = [
        CommissionReport(ExecutionId(f"E{i}"), Decimal(i + 1), NOW, NOW) for i in range(len(sizes))
    ]
    stream: list[object] = []
    for i, (f, c) in enumerate(zip(fills_, reports, strict=True)):
        stream.extend([c, f] if commission_first[i] else [f, c])
    stream.extend(fills_[r % len(fills_)] for r in repeats)
    order_seed.shuffle(stream)  # type: ignore[attr-defined]

    order = new_order(total)
    order.apply(OrderLifecycleEvent(CID, OrderEventKind.SUBMITTED, NOW, NOW))
    for event in stream:
        order.apply(event)  # type: ignore[arg-type]

    expected_avg = sum((f.price * f.quantity for f in fills_), Decimal(0)) / total
    assert order.filled_qty == total
    assert order.status is OrderStatus.FILLED
    assert order.avg_px == expected_avg
    assert order.commission == sum((c.commission for c in reports), Decimal(0))
    assert all(f.commission is not None for f in order.fills)
