"""Order handling details of the IBKR adapter beyond the port contract, against the TWS gateway
emulator on loopback: how lists go out on the wire, refusals raised to the caller and never
published again, duplicated and reordered execution reports, a refused modification, and an OCA
sibling cancelled (not expired) by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from ordergate.adapters.gateway_sim.request_types import PlaceOrder
from ordergate.adapters.gateway_sim.requests import parse_request
from ordergate.adapters.ibkr.testing import IbkrBrokerHarness
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.orders import (
    BracketRequest,
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
    TimeInForce,
)
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import ClientOrderId, Side

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0
K = OrderEventKind


@pytest.fixture
async def harness() -> AsyncIterator[IbkrBrokerHarness]:
    h = await IbkrBrokerHarness.create()
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def events(harness: IbkrBrokerHarness) -> AsyncIterator[list[Any]]:
    seen: list[Any] = []
    stream = harness.ibkr.events()

    async def record() -> None:
        async for event in stream:
            seen.append(event)

    task = asyncio.ensure_future(record())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def req(h: IbkrBrokerHarness, cid: str, side: Side, qty: int, kind: OrderType,
        **fields: Any) -> OrderRequest:
    return OrderRequest(ClientOrderId(cid), h.stock, side, Decimal(qty), kind, **fields)


def ok(request: OrderRequest) -> ApprovedOrder:
    return mint_approval_for_tests(request)


def kinds(events: list[Any], cid: str) -> list[OrderEventKind]:
    return [e.kind for e in events
            if isinstance(e, OrderLifecycleEvent) and str(e.client_order_id) == cid]


def wire_orders(h: IbkrBrokerHarness) -> list[PlaceOrder]:
    parsed = [parse_request(list(f), 178) for f in h.server.received(3)]
    return [p for p in parsed if isinstance(p, PlaceOrder)]


async def test_a_bracket_is_held_until_its_last_child_and_oca_members_go_out_alone(
    harness: IbkrBrokerHarness,
) -> None:
    await harness.set_price(harness.stock, Decimal(101))
    children: dict[str, Any] = {"parent_id": ClientOrderId("BR-P"), "oca_group": "OCO-BR",
                                "time_in_force": TimeInForce.GTC}
    bracket = BracketRequest(
        req(harness, "BR-P", Side.BUY, 10, OrderType.LIMIT, limit_price=Decimal(100)),
        req(harness, "BR-TP", Side.SELL, 10, OrderType.LIMIT, limit_price=Decimal(110),
            **children),
        req(harness, "BR-SL", Side.SELL, 10, OrderType.STOP, stop_price=Decimal(90),
            **children),
    )
    await harness.ibkr.submit_list(tuple(ok(r) for r in bracket.orders), timeout=TIMEOUT)
    oca = [req(harness, f"OCA-{n}", Side.BUY, 5, OrderType.LIMIT, limit_price=Decimal(p),
               oca_group="G1") for n, p in ((1, 95), (2, 90))]
    await harness.ibkr.submit_list(tuple(ok(r) for r in oca), timeout=TIMEOUT)
    sent = wire_orders(harness)
    parent_id = sent[0].order_id
    assert [(False, 0), (False, parent_id), (True, parent_id), (True, 0), (True, 0)] == [
        (o.order.transmit, o.order.parent_id) for o in sent]
    assert [("OCO-BR", 1), ("OCO-BR", 1), ("G1", 1), ("G1", 1)] == [
        (o.order.oca_group, o.order.oca_type) for o in sent[1:]]


async def test_a_refused_list_member_cancels_the_others_and_is_raised_not_published(
    harness: IbkrBrokerHarness, events: list[Any]
) -> None:
    await harness.set_price(harness.stock, Decimal(100))
    near = req(harness, "RF-1", Side.BUY, 5, OrderType.LIMIT, limit_price=Decimal(95),
               oca_group="G2")
    huge = req(harness, "RF-2", Side.BUY, 100_000, OrderType.LIMIT, limit_price=Decimal(90),
               oca_group="G2")  # beyond the account's funds: IB says 201
    with pytest.raises(BrokerRejected) as raised:
        await harness.ibkr.submit_list((ok(near), ok(huge)), timeout=TIMEOUT)
    assert 201 == raised.value.code
    await harness.settle()
    assert [K.ACCEPTED, K.CANCELED] == kinds(events, "RF-1")
    assert [] == kinds(events, "RF-2")
    assert [] == harness.engine.open_orders()


async def test_a_single_rejection_is_raised_once_and_never_published(
    harness: IbkrBrokerHarness, events: list[Any]
) -> None:
    await harness.set_price(harness.stock, Decimal(100))
    harness.server.reject_next_order("no permissions")
    with pytest.raises(BrokerRejected, match="no permissions"):
        await harness.ibkr.submit(ok(req(harness, "RJ-1", Side.BUY, 1, OrderType.MARKET)),
                                  timeout=TIMEOUT)
    await harness.settle()
    assert [] == kinds(events, "RJ-1")


async def test_duplicated_and_reordered_execution_reports_are_published_once_each(
    harness: IbkrBrokerHarness, events: list[Any]
) -> None:
    await harness.set_price(harness.stock, Decimal(100))
    harness.server.duplicate_next_execution(2)
    harness.server.commission_before_execution(2)
    for n in range(3):
        await harness.ibkr.submit(ok(req(harness, f"DU-{n}", Side.BUY, 1, OrderType.MARKET)),
                                  timeout=TIMEOUT)
    for _ in range(100):  # the early commissions come back by the sweep (grace 0.5 s)
        await harness.settle()
        if len([e for e in events if isinstance(e, CommissionReport)]) >= 3:
            break
        await asyncio.sleep(0.05)
    fills = [e for e in events if isinstance(e, ExecutionFill)]
    commissions = [e for e in events if isinstance(e, CommissionReport)]
    assert 3 == len({f.execution_id for f in fills}) == len(fills)
    assert {f.execution_id for f in fills} == {c.execution_id for c in commissions}
    assert 3 == len(commissions)


async def test_a_refused_modification_is_raised_and_the_order_keeps_working(
    harness: IbkrBrokerHarness, events: list[Any]
) -> None:
    await harness.set_price(harness.stock, Decimal(101))
    harness.engine.fill_limit = Decimal(3)
    await harness.ibkr.submit(ok(req(harness, "MR-1", Side.BUY, 10, OrderType.LIMIT,
                                     limit_price=Decimal(100))), timeout=TIMEOUT)
    await harness.set_price(harness.stock, Decimal(100))
    await harness.settle()
    with pytest.raises(BrokerRejected):  # below the 3 already filled
        await harness.ibkr.modify(ClientOrderId("MR-1"), quantity=Decimal(2), timeout=TIMEOUT)
    harness.engine.fill_limit = None
    await harness.set_price(harness.stock, Decimal("99.5"))
    await harness.settle()
    assert [K.ACCEPTED] == kinds(events, "MR-1")
    filled = sum(e.quantity for e in events if isinstance(e, ExecutionFill))
    assert Decimal(10) == filled


async def test_an_oca_sibling_of_day_orders_is_cancelled_not_expired(
    harness: IbkrBrokerHarness, events: list[Any]
) -> None:
    await harness.set_price(harness.stock, Decimal(100))
    pair = [req(harness, f"OD-{n}", Side.BUY, 5, OrderType.LIMIT, limit_price=Decimal(p),
                oca_group="G3", time_in_force=TimeInForce.DAY) for n, p in ((1, 95), (2, 90))]
    await harness.ibkr.submit_list(tuple(ok(r) for r in pair), timeout=TIMEOUT)
    await harness.set_price(harness.stock, Decimal(95))
    await harness.settle()
    assert [K.ACCEPTED, K.CANCELED] == kinds(events, "OD-2")


async def test_a_list_naming_an_unknown_parent_is_refused_before_anything_is_sent(
    harness: IbkrBrokerHarness,
) -> None:
    parent = req(harness, "UP-P", Side.BUY, 1, OrderType.LIMIT, limit_price=Decimal(90))
    orphan = req(harness, "UP-C", Side.SELL, 1, OrderType.LIMIT, limit_price=Decimal(95),
                 parent_id=ClientOrderId("UP-NEVER-SENT"))
    with pytest.raises(BrokerRejected, match="UP-NEVER-SENT"):
        await harness.ibkr.submit_list((ok(parent), ok(orphan)), timeout=TIMEOUT)
    assert [] == wire_orders(harness)
