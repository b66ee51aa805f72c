"""`SimBroker` behind the `Broker` port: timeouts, connection, event fan-out, queries."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.testing import SimBrokerHarness
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout, UnknownOrder
from ordergate.domain.events import ConnectionStateChanged
from ordergate.domain.orders import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, Side
from ordergate.ports.broker import Broker

T = 1.0


def approved(request: OrderRequest, harness: SimBrokerHarness) -> ApprovedOrder:
    now = harness.broker.clock.now()  # type: ignore[attr-defined]
    return mint_approval_for_tests(request, now)


def buy(harness: SimBrokerHarness, cid: str, **fields: object) -> OrderRequest:
    fields.setdefault("order_type", OrderType.MARKET)
    return OrderRequest(
        ClientOrderId(cid), harness.stock, Side.BUY, Decimal(10), **fields  # type: ignore[arg-type]
    )


def drain(stream: object) -> list[object]:
    queue = stream._queue  # type: ignore[attr-defined]
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_sim_broker_satisfies_the_broker_protocol() -> None:
    harness = await SimBrokerHarness.create()
    assert isinstance(harness.broker, Broker)
    assert isinstance(harness.broker, SimBroker)


async def test_every_subscriber_receives_every_event_in_order() -> None:
    harness = await SimBrokerHarness.create()
    first, second = harness.broker.events(), harness.broker.events()
    await harness.set_price(harness.stock, Decimal(100))
    await harness.broker.submit(approved(buy(harness, "A"), harness), timeout=T)
    one, two = drain(first), drain(second)
    assert one == two
    assert [OrderLifecycleEvent, ExecutionFill, CommissionReport] == [type(e) for e in one]


async def test_a_subscription_sees_only_events_after_it_was_made() -> None:
    harness = await SimBrokerHarness.create()
    await harness.set_price(harness.stock, Decimal(100))
    await harness.broker.submit(approved(buy(harness, "A"), harness), timeout=T)
    late = harness.broker.events()
    await harness.broker.submit(approved(buy(harness, "B"), harness), timeout=T)
    events = drain(late)
    owners = {getattr(e, "client_order_id", ClientOrderId("B")) for e in events}
    assert {ClientOrderId("B")} == owners


async def test_a_closed_subscription_ends_its_iteration() -> None:
    harness = await SimBrokerHarness.create()
    stream = harness.broker.events()
    await stream.aclose()  # type: ignore[attr-defined]
    assert [] == [event async for event in stream]


async def test_a_stalled_call_raises_broker_timeout_and_sends_nothing() -> None:
    harness = await SimBrokerHarness.create()
    await harness.stall(5)
    with pytest.raises(BrokerTimeout):
        await harness.broker.submit(approved(buy(harness, "A"), harness), timeout=0.01)
    assert [] == await harness.broker.open_orders(timeout=T)


async def test_calls_fail_while_disconnected() -> None:
    harness = await SimBrokerHarness.create()
    await harness.close()
    assert not harness.broker.is_connected()
    with pytest.raises(BrokerError):
        await harness.broker.submit(approved(buy(harness, "A"), harness), timeout=T)


async def test_connecting_and_disconnecting_are_reported() -> None:
    harness = await SimBrokerHarness.create()
    stream = harness.broker.events()
    await harness.broker.disconnect(timeout=T)
    await harness.broker.connect(timeout=T)
    await harness.broker.connect(timeout=T)  # idempotent
    states = [e.state.value for e in drain(stream) if isinstance(e, ConnectionStateChanged)]
    assert ["DISCONNECTED", "CONNECTED"] == states


async def test_qualify_returns_known_instruments_and_rejects_unknown_ones() -> None:
    harness = await SimBrokerHarness.create()
    assert harness.option == await harness.broker.qualify(harness.option, timeout=T)
    with pytest.raises(BrokerRejected):
        await harness.broker.qualify(harness.unknown, timeout=T)


async def test_order_status_reports_the_broker_view_and_unknown_orders_raise() -> None:
    harness = await SimBrokerHarness.create()
    request = buy(harness, "A", order_type=OrderType.LIMIT, limit_price=Decimal(99))
    broker_id = await harness.broker.submit(approved(request, harness), timeout=T)
    view = await harness.broker.order_status(request.client_order_id, timeout=T)
    assert (broker_id, OrderStatus.ACCEPTED, Decimal(99)) == (
        view.broker_order_id, view.status, view.limit_price)
    with pytest.raises(UnknownOrder):
        await harness.broker.order_status(ClientOrderId("nope"), timeout=T)


async def test_positions_executions_and_summary_reflect_fills() -> None:
    harness = await SimBrokerHarness.create(starting_cash=Decimal(100_000))
    since = await harness.now()
    await harness.set_price(harness.stock, Decimal(100))
    await harness.broker.submit(approved(buy(harness, "A"), harness), timeout=T)
    await harness.set_price(harness.stock, Decimal(110))
    positions = await harness.broker.positions(timeout=T)
    assert [(harness.stock, Decimal(10), Decimal(100))] == [
        (p.instrument, p.quantity, p.avg_cost) for p in positions]
    executions = await harness.broker.executions(since, timeout=T)
    assert [Decimal("0.35")] == [e.commission for e in executions]
    summary = await harness.broker.account_summary(timeout=T)
    assert Decimal("100099.65") == summary.net_liquidation
    assert Decimal(100) == summary.unrealized_pnl


async def test_bracket_through_submit_list_protects_the_entry() -> None:
    harness = await SimBrokerHarness.create()
    entry = buy(harness, "E", order_type=OrderType.LIMIT, limit_price=Decimal(100))
    tp = OrderRequest(ClientOrderId("TP"), harness.stock, Side.SELL, Decimal(10), OrderType.LIMIT,
                      limit_price=Decimal(110), parent_id=entry.client_order_id, oca_group="X")
    sl = OrderRequest(ClientOrderId("SL"), harness.stock, Side.SELL, Decimal(10), OrderType.STOP,
                      stop_price=Decimal(95), parent_id=entry.client_order_id, oca_group="X")
    stream = harness.broker.events()
    ids = await harness.broker.submit_list(
        tuple(approved(r, harness) for r in (entry, tp, sl)), timeout=T)
    assert 3 == len(set(ids))
    for price in ("100", "94"):
        await harness.set_price(harness.stock, Decimal(price))
    fills = [
        (e.client_order_id.value, e.price) for e in drain(stream) if isinstance(e, ExecutionFill)
    ]
    assert [("E", Decimal(100)), ("SL", Decimal(94))] == fills
    view = await harness.broker.order_status(tp.client_order_id, timeout=T)
    assert OrderStatus.CANCELED == view.status


async def test_advancing_the_clock_expires_day_orders_through_the_port() -> None:
    harness = await SimBrokerHarness.create()
    stream = harness.broker.events()
    request = buy(harness, "D", order_type=OrderType.LIMIT, limit_price=Decimal(90))
    await harness.broker.submit(approved(request, harness), timeout=T)
    await harness.advance(timedelta(hours=7).total_seconds())
    kinds = [e.kind for e in drain(stream) if isinstance(e, OrderLifecycleEvent)]
    assert [OrderEventKind.ACCEPTED, OrderEventKind.EXPIRED] == kinds


async def test_clock_sleepers_wake_when_the_simulation_advances() -> None:
    harness = await SimBrokerHarness.create()
    clock = harness.broker.clock  # type: ignore[attr-defined]
    sleeper = asyncio.get_running_loop().create_task(clock.sleep(60))
    await asyncio.sleep(0)
    assert not sleeper.done()
    await harness.advance(60)
    await asyncio.wait_for(sleeper, 1)
