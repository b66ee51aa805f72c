"""FakeBroker controls and behaviour beyond the Broker contract (which tests/contract covers)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.testing import HARNESS_START, harness_instruments
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.errors import BrokerError, BrokerRejected, InvalidValue, UnknownOrder
from ordergate.domain.events import ConnectionState, ConnectionStateChanged
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OcaType,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, Side

STOCK, OPTION, UNKNOWN = harness_instruments()
T = 1.0
K = OrderEventKind


def approved(request: OrderRequest) -> ApprovedOrder:
    return mint_approval_for_tests(request, HARNESS_START)


def request(coid: str, side: Side = Side.BUY, qty: int = 10, **fields: object) -> OrderRequest:
    fields.setdefault("order_type", OrderType.MARKET)
    return OrderRequest(
        client_order_id=ClientOrderId(coid),
        instrument=STOCK,
        side=side,
        quantity=Decimal(qty),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def broker() -> FakeBroker:
    fake = FakeBroker(FakeClock(HARNESS_START), [STOCK, OPTION])
    await fake.connect(timeout=T)
    return fake


def kinds(broker: FakeBroker, coid: str) -> list[OrderEventKind]:
    return [
        e.kind
        for e in broker.sent
        if isinstance(e, OrderLifecycleEvent) and e.client_order_id == ClientOrderId(coid)
    ]


def fills(broker: FakeBroker) -> list[ExecutionFill]:
    return [e for e in broker.sent if isinstance(e, ExecutionFill)]


async def test_every_call_is_recorded_with_its_arguments(broker: FakeBroker) -> None:
    order = approved(request("A"))
    await broker.submit(order, timeout=T)
    await broker.positions(timeout=T)
    assert ["connect", "submit", "positions"] == [call.method for call in broker.calls]
    assert order == broker.calls_to("submit")[0].argument("order")


async def test_market_order_waits_for_a_price(broker: FakeBroker) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    assert [] == fills(broker)
    broker.set_price(STOCK, Decimal(50))
    assert [Decimal(50)] == [f.price for f in fills(broker)]


async def test_fill_control_fills_part_then_the_rest(broker: FakeBroker) -> None:
    await broker.submit(
        approved(request("L", order_type=OrderType.LIMIT, limit_price=Decimal(90))), timeout=T
    )
    broker.fill(ClientOrderId("L"), Decimal(4), Decimal("89.50"))
    view = await broker.order_status(ClientOrderId("L"), timeout=T)
    assert (OrderStatus.PARTIALLY_FILLED, Decimal(4)) == (view.status, view.filled_qty)
    broker.fill(ClientOrderId("L"))
    view = await broker.order_status(ClientOrderId("L"), timeout=T)
    assert (OrderStatus.FILLED, Decimal(10)) == (view.status, view.filled_qty)
    with pytest.raises(BrokerRejected):
        broker.fill(ClientOrderId("L"))


async def test_fill_control_refuses_more_than_is_left(broker: FakeBroker) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    with pytest.raises(InvalidValue):
        broker.fill(ClientOrderId("A"), Decimal(11), Decimal(10))


async def test_reject_control_rejects_a_working_order(broker: FakeBroker) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    broker.reject(ClientOrderId("A"), "margin")
    assert [K.ACCEPTED, K.REJECTED] == kinds(broker, "A")


async def test_reject_control_refuses_a_partly_filled_order(broker: FakeBroker) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    broker.fill(ClientOrderId("A"), Decimal(1), Decimal(10))
    with pytest.raises(InvalidValue):
        broker.reject(ClientOrderId("A"), "too late")


async def test_dropped_connection_refuses_calls_and_keeps_fills_for_later(
    broker: FakeBroker,
) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    broker.drop_connection()
    assert not broker.is_connected()
    assert isinstance(broker.sent[-1], ConnectionStateChanged)
    assert ConnectionState.DISCONNECTED == broker.sent[-1].state
    with pytest.raises(BrokerError):
        await broker.positions(timeout=T)
    with pytest.raises(BrokerError):
        await broker.connect(timeout=T)
    broker.set_price(STOCK, Decimal(20))  # fills while nobody listens
    assert [] == fills(broker)
    broker.restore_connection()
    assert ConnectionState.CONNECTED == broker.sent[-1].state  # type: ignore[union-attr]
    executions = await broker.executions(HARNESS_START, timeout=T)
    assert [(Decimal(10), Decimal(20))] == [(f.quantity, f.price) for f in executions]
    assert [Decimal(10)] == [p.quantity for p in await broker.positions(timeout=T)]


async def test_duplicated_fill_is_one_execution(broker: FakeBroker) -> None:
    broker.set_price(STOCK, Decimal(10))
    broker.duplicate_next_fill()
    req = request("A")
    await broker.submit(approved(req), timeout=T)
    reported = fills(broker)
    assert 2 == len(reported)
    assert reported[0].execution_id == reported[1].execution_id
    order = Order.from_request(req)
    for event in [
        OrderLifecycleEvent(
            req.client_order_id, K.SUBMITTED, ts_event=HARNESS_START, ts_init=HARNESS_START
        ),
        *broker.sent[1:],
    ]:
        order.apply(event)  # type: ignore[arg-type]
    assert Decimal(10) == order.filled_qty
    assert 1 == len(await broker.executions(HARNESS_START, timeout=T))


async def test_commission_can_come_before_its_fill(broker: FakeBroker) -> None:
    broker.set_price(STOCK, Decimal(10))
    broker.commission_before_fill()
    await broker.submit(approved(request("A")), timeout=T)
    types = [type(e) for e in broker.sent if isinstance(e, ExecutionFill | CommissionReport)]
    assert [CommissionReport, ExecutionFill] == types


async def test_execution_commission_is_ib_like(broker: FakeBroker) -> None:
    broker.set_price(STOCK, Decimal(10))
    broker.set_price(OPTION, Decimal(2))
    await broker.submit(approved(request("S", qty=1000)), timeout=T)
    option = OrderRequest(
        client_order_id=ClientOrderId("O"),
        instrument=OPTION,
        side=Side.BUY,
        quantity=Decimal(3),
        order_type=OrderType.MARKET,
    )
    await broker.submit(approved(option), timeout=T)
    reports = [e.commission for e in broker.sent if isinstance(e, CommissionReport)]
    assert [Decimal("5.00"), Decimal("1.95")] == reports
    summary = await broker.account_summary(timeout=T)
    assert Decimal(100_000) - Decimal(10_000) - Decimal(600) - Decimal("6.95") == summary.cash


async def test_oca_reduce_type_shrinks_the_other_members(broker: FakeBroker) -> None:
    broker.set_price(STOCK, Decimal(100))
    common = {
        "order_type": OrderType.LIMIT,
        "oca_group": "G",
        "oca_type": OcaType.REDUCE_WITH_BLOCK,
    }
    await broker.submit_list(
        (
            approved(request("A", limit_price=Decimal(95), **common)),
            approved(request("B", limit_price=Decimal(90), **common)),
        ),
        timeout=T,
    )
    broker.fill(ClientOrderId("A"), Decimal(4), Decimal(95))
    view = await broker.order_status(ClientOrderId("B"), timeout=T)
    assert (OrderStatus.ACCEPTED, Decimal(6)) == (view.status, view.quantity)


async def test_trailing_stop_view_shows_the_moving_stop(broker: FakeBroker) -> None:
    broker.set_price(STOCK, Decimal(100))
    req = request("T", side=Side.SELL, order_type=OrderType.TRAILING_STOP, trail_amount=Decimal(2))
    await broker.submit(approved(req), timeout=T)
    broker.set_price(STOCK, Decimal(110))
    view = await broker.order_status(ClientOrderId("T"), timeout=T)
    assert Decimal(108) == view.stop_price


async def test_day_order_sent_after_the_close_expires_at_the_next_close() -> None:
    friday_evening = datetime(2024, 3, 8, 22, 0, tzinfo=UTC)  # 17:00 New York
    clock = FakeClock(friday_evening)
    broker = FakeBroker(clock, [STOCK])
    await broker.connect(timeout=T)
    await broker.submit(
        approved(request("D", order_type=OrderType.LIMIT, limit_price=Decimal(1))), timeout=T
    )
    clock.set(datetime(2024, 3, 11, 19, 59, tzinfo=UTC))  # Monday 15:59 New York (EDT)
    assert [K.ACCEPTED] == kinds(broker, "D")
    clock.advance(60)
    assert [K.ACCEPTED, K.EXPIRED] == kinds(broker, "D")


async def test_orders_the_broker_cannot_take_are_rejected(broker: FakeBroker) -> None:
    past = datetime(2024, 3, 1, tzinfo=UTC)
    await broker.submit(
        approved(request("TICK", order_type=OrderType.LIMIT, limit_price=Decimal("10.001"))),
        timeout=T,
    )
    await broker.submit(
        approved(
            request(
                "GTD",
                order_type=OrderType.LIMIT,
                limit_price=Decimal(10),
                time_in_force=TimeInForce.GTD,
                expire_at=past,
            )
        ),
        timeout=T,
    )
    assert [K.REJECTED] == kinds(broker, "TICK")
    assert [K.REJECTED] == kinds(broker, "GTD")


async def test_requests_the_broker_refuses_raise(broker: FakeBroker) -> None:
    await broker.submit(approved(request("A")), timeout=T)
    with pytest.raises(BrokerRejected):
        await broker.submit(approved(request("A")), timeout=T)
    with pytest.raises(BrokerRejected):
        await broker.submit(request("B"), timeout=T)  # type: ignore[arg-type]
    with pytest.raises(BrokerRejected):
        await broker.cancel(ClientOrderId("nope"), timeout=T)
    with pytest.raises(UnknownOrder):
        await broker.order_status(ClientOrderId("nope"), timeout=T)
    with pytest.raises(InvalidValue):
        await broker.positions(timeout=0)


async def test_rejected_parent_takes_its_children_with_it(broker: FakeBroker) -> None:
    broker.reject_next("no")
    parent = request("P", order_type=OrderType.LIMIT, limit_price=Decimal(10))
    child = request(
        "C",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        limit_price=Decimal(12),
        parent_id=ClientOrderId("P"),
    )
    await broker.submit_list((approved(parent), approved(child)), timeout=T)
    assert ([K.REJECTED], [K.REJECTED]) == (kinds(broker, "P"), kinds(broker, "C"))


async def test_short_stall_only_delays(broker: FakeBroker) -> None:
    broker.stall(0.01)
    assert [] == await broker.open_orders(timeout=T)


async def test_close_ends_event_streams(broker: FakeBroker) -> None:
    stream = broker.events()
    await broker.close()
    received = [event async for event in stream]
    assert [ConnectionState.DISCONNECTED] == [
        e.state for e in received if isinstance(e, ConnectionStateChanged)
    ]
    assert not broker.is_connected()
    await asyncio.sleep(0)


async def test_disconnecting_a_dropped_session_says_disconnected_once(broker: FakeBroker) -> None:
    broker.drop_connection()
    await broker.disconnect(timeout=T)
    broker.restore_connection()  # the session was closed: nothing reconnects by itself
    states = [e.state for e in broker.sent if isinstance(e, ConnectionStateChanged)]
    assert [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED] == states
    assert not broker.is_connected()
