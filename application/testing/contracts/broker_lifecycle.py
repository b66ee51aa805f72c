"""Broker contract, part 2: modify, cancel, timeouts, event ordering, executions and commissions,
and the query methods agreeing with what the events said.

Driven only through a `BrokerHarness`; it must never reach into an adapter.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest

from ordergate.application.testing.contracts._broker_session import TIMEOUT, BrokerSession
from ordergate.application.testing.contracts.broker_orders import BrokerContractBase
from ordergate.domain.errors import BrokerRejected, BrokerTimeout, UnknownOrder
from ordergate.domain.orders import (
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

__all__ = ["BrokerLifecycleContract"]

BUY, SELL = Side.BUY, Side.SELL
K = OrderEventKind
S = OrderStatus
_STALL = 3.0
_SHORT = 0.1
_HANG_BOUND = 2.0  # a timed-out call must return well before the stall would have ended


async def _busy_scenario(s: BrokerSession) -> None:
    """A mix of fills, partial fills, a working order and a cancel, on stock and option."""
    await s.price("100")
    await s.price("5.00", s.option)
    await s.submit(s.request(BUY, 10, OrderType.MARKET))
    await s.submit(s.request(BUY, 2, OrderType.MARKET, instrument=s.option))
    sell = s.request(SELL, 4, OrderType.LIMIT, limit_price="101")
    await s.submit(sell)
    await s.harness.set_fill_limit(Decimal(1))
    await s.price("101")
    await s.price("101.50")
    await s.harness.set_fill_limit(None)
    await s.price("101.20")
    await s.submit(s.request(BUY, 5, OrderType.LIMIT, limit_price="90"))
    cancelled = s.request(BUY, 3, OrderType.LIMIT, limit_price="80")
    await s.submit(cancelled)
    await s.settle()
    await s.broker.cancel(cancelled.client_order_id, timeout=TIMEOUT)
    await s.settle()


class BrokerLifecycleContract(BrokerContractBase):
    """Modify, cancel, timeouts, ordering, executions, commissions and queries."""

    async def test_modify_is_confirmed_and_the_new_price_respected(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.LIMIT, limit_price="90")
        await s.submit(request)
        await s.settle()
        await s.broker.modify(request.client_order_id, limit_price=Decimal(95), timeout=TIMEOUT)
        await s.settle()
        updates = [
            e
            for e in s.events
            if isinstance(e, OrderLifecycleEvent)
            and e.kind is K.UPDATED
            and e.client_order_id == request.client_order_id
        ]
        assert [Decimal(95)] == [e.limit_price for e in updates]
        assert Decimal(95) == s.order(request.client_order_id).limit_price
        view = await s.broker.order_status(request.client_order_id, timeout=TIMEOUT)
        assert Decimal(95) == view.limit_price
        await s.price("95.50")
        await s.settle()
        assert [] == s.fills(request)
        await s.price("95")
        await s.settle()
        assert S.FILLED == s.status(request)
        assert all(fill.price <= Decimal(95) for fill in s.fills(request))

    async def test_modify_quantity_is_confirmed_and_respected(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.LIMIT, limit_price="90")
        await s.submit(request)
        await s.broker.modify(request.client_order_id, quantity=Decimal(7), timeout=TIMEOUT)
        await s.settle()
        assert Decimal(7) == s.order(request.client_order_id).quantity
        await s.price("90")
        await s.settle()
        assert (S.FILLED, Decimal(7)) == (s.status(request), s.filled_qty(request))

    @pytest.mark.parametrize(
        ("trail", "new_trail"),
        [
            ({"trail_amount": "5"}, {"trail_amount": "2"}),
            ({"trail_percent": "5"}, {"trail_percent": "2"}),
        ],
        ids=["amount", "percent"],
    )
    async def test_a_trailing_stops_trail_can_be_modified(
        self, broker_session: BrokerSession, trail: dict[str, Any], new_trail: dict[str, Any]
    ) -> None:
        s = broker_session
        await s.price("100")
        await s.submit(s.request(BUY, 5, OrderType.MARKET))
        stop = s.request(SELL, 5, OrderType.TRAILING_STOP, time_in_force=TimeInForce.GTC, **trail)
        await s.submit(stop)
        await s.settle()
        await s.price("100")
        await s.settle()
        change: dict[str, Any] = {name: Decimal(value) for name, value in new_trail.items()}
        await s.broker.modify(stop.client_order_id, timeout=TIMEOUT, **change)
        await s.settle()
        assert K.UPDATED in s.kinds(stop)
        await s.price("97.50")  # under the new stop (98), above the old one (95)
        await s.settle()
        assert S.FILLED == s.status(stop)

    async def test_modify_unknown_or_finished_order_is_rejected(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        with pytest.raises(BrokerRejected):
            await s.broker.modify(s.new_id(), limit_price=Decimal(99), timeout=TIMEOUT)
        done = s.request(BUY, 1, OrderType.MARKET)
        await s.submit(done)
        await s.settle()
        with pytest.raises(BrokerRejected):
            await s.broker.modify(done.client_order_id, quantity=Decimal(2), timeout=TIMEOUT)

    async def test_cancel_is_confirmed_and_nothing_fills_after(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.LIMIT, limit_price="90")
        await s.submit(request)
        await s.settle()
        await s.broker.cancel(request.client_order_id, timeout=TIMEOUT)
        await s.settle()
        assert S.CANCELED == s.status(request)
        await s.price("80")
        await s.settle()
        assert [] == s.fills(request)
        assert [] == await s.broker.open_orders(timeout=TIMEOUT)
        with pytest.raises(BrokerRejected):
            await s.broker.cancel(request.client_order_id, timeout=TIMEOUT)

    async def test_cancel_all_cancels_every_working_order_and_nothing_fills_after(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        await s.price("5.00", s.option)
        working = [
            s.request(BUY, 10, OrderType.LIMIT, limit_price="90"),
            s.request(BUY, 3, OrderType.LIMIT, limit_price="85"),
            s.request(BUY, 1, OrderType.LIMIT, limit_price="4.00", instrument=s.option),
        ]
        for request in working:
            await s.submit(request)
        await s.settle()
        await s.broker.cancel_all(timeout=TIMEOUT)
        await s.settle()
        assert [S.CANCELED] * 3 == [s.status(r) for r in working]
        assert [] == await s.broker.open_orders(timeout=TIMEOUT)
        await s.price("80")
        await s.price("3.00", s.option)
        await s.settle()
        assert [] == [f for r in working for f in s.fills(r)]
        await s.broker.cancel_all(timeout=TIMEOUT)  # nothing working: a harmless no-op

    async def test_order_status_reports_the_broker_view(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await s.price("100")
        request = s.request(BUY, 10, OrderType.MARKET)
        submitted = await s.submit(request)
        await s.settle()
        view = await s.broker.order_status(request.client_order_id, timeout=TIMEOUT)
        order = s.order(request.client_order_id)
        assert (request.client_order_id, S.FILLED, Decimal(10), order.avg_px) == (
            view.client_order_id,
            view.status,
            view.filled_qty,
            view.avg_px,
        )
        assert submitted.broker_order_id == view.broker_order_id
        with pytest.raises(UnknownOrder):
            await s.broker.order_status(ClientOrderId("CT-never-sent"), timeout=TIMEOUT)

    async def test_stalled_call_raises_broker_timeout_without_hanging(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        loop = asyncio.get_running_loop()
        await s.harness.stall(_STALL)
        started = loop.time()
        with pytest.raises(BrokerTimeout):
            await s.broker.open_orders(timeout=_SHORT)
        assert loop.time() - started < _HANG_BOUND
        await s.harness.stall(_STALL)
        started = loop.time()
        with pytest.raises(BrokerTimeout):
            await s.broker.submit(
                await s.approve(s.request(BUY, 1, OrderType.MARKET)), timeout=_SHORT
            )
        assert loop.time() - started < _HANG_BOUND

    async def test_accepted_comes_before_fills_and_fills_before_filled(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await _busy_scenario(s)
        for client_order_id, order in s.orders.items():
            assert s.accepted_before_fill(client_order_id), client_order_id
            if order.status is S.FILLED:
                assert order.filled_qty == order.quantity

    async def test_every_event_applies_to_the_domain_order(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await _busy_scenario(s)  # settle() applies every event; an invalid one raises there
        applied = [e for e in s.events if isinstance(e, OrderLifecycleEvent | ExecutionFill)]
        assert applied
        for order in s.orders.values():
            assert order.filled_qty + order.leaves_qty == order.quantity

    async def test_execution_ids_are_unique(self, broker_session: BrokerSession) -> None:
        s = broker_session
        await _busy_scenario(s)
        by_id: dict[str, set[tuple[str, Decimal, Decimal]]] = defaultdict(set)
        for event in s.events:
            if isinstance(event, ExecutionFill):
                key = (str(event.client_order_id), event.quantity, event.price)
                by_id[str(event.execution_id)].add(key)
        assert len(by_id) >= 4
        assert all(len(contents) == 1 for contents in by_id.values())

    async def test_every_fill_has_exactly_one_commission(
        self, broker_session: BrokerSession
    ) -> None:
        s = broker_session
        await _busy_scenario(s)
        fills = {fill.execution_id for fill in s.fills()}
        reports = Counter(report.execution_id for report in s.commissions())
        assert fills == set(reports)
        assert all(count == 1 for count in reports.values())
        for order in s.orders.values():
            assert all(fill.commission is not None for fill in order.fills)

    async def test_queries_agree_with_the_events(self, broker_session: BrokerSession) -> None:
        s = broker_session
        since = await s.now()
        before = await s.broker.account_summary(timeout=TIMEOUT)
        await _busy_scenario(s)
        fills = s.fills()
        multipliers = {s.stock.id: s.stock.multiplier, s.option.id: s.option.multiplier}
        expected: dict[InstrumentId, Decimal] = defaultdict(Decimal)
        for fill in fills:
            expected[fill.instrument_id] += fill.signed_quantity
        positions = await s.broker.positions(timeout=TIMEOUT)
        assert {k: v for k, v in expected.items() if v} == {
            p.instrument_id: p.quantity for p in positions
        }
        working = {cid for cid, order in s.orders.items() if order.status.is_working}
        views = await s.broker.open_orders(timeout=TIMEOUT)
        assert working == {view.client_order_id for view in views}
        commissions = {r.execution_id: r.commission for r in s.commissions()}
        executions = await s.broker.executions(since, timeout=TIMEOUT)
        assert {(f.execution_id, f.quantity, f.price) for f in fills} == {
            (f.execution_id, f.quantity, f.price) for f in executions
        }
        assert all(commissions[f.execution_id] == f.commission for f in executions)
        after = await s.broker.account_summary(timeout=TIMEOUT)
        spent = sum(
            (f.signed_quantity * f.price * multipliers[f.instrument_id] for f in fills),
            Decimal(0),
        )
        assert before.cash - spent - sum(commissions.values(), Decimal(0)) == after.cash
