"""`BrokerSession`: what one Broker contract test holds — the harness, a recorder of every event
the broker emitted, and the domain `Order` of each order the test sent, kept up to date by
applying those events (so an event the transition table forbids fails the test at once).

Only the harness, the port and the domain are used, never an adapter's internals. It must never
hide an event: everything recorded is kept in `events` in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.application.testing.harness import BrokerHarness
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.instruments import Instrument
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
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId, ExecutionId, Side
from ordergate.ports.broker import Broker, BrokerEvent

__all__ = ["TIMEOUT", "BrokerSession", "Submitted"]

TIMEOUT = 5.0
"""Timeout for calls that are expected to succeed (seconds)."""

_DRAIN_QUIET_ROUNDS = 3
_DRAIN_MAX_ROUNDS = 200


class Submitted:
    """The outcome of sending one order: the broker's id, or the `BrokerRejected` raised."""

    def __init__(self, broker_order_id: BrokerOrderId | None, error: BrokerRejected | None):
        self.broker_order_id = broker_order_id
        self.error = error


class BrokerSession:
    """One test's window on a broker under test. Build with `await BrokerSession.start(h)`."""

    def __init__(self, harness: BrokerHarness) -> None:
        self.harness = harness
        self.events: list[BrokerEvent] = []
        self.orders: dict[ClientOrderId, Order] = {}
        self._accepted: set[ClientOrderId] = set()
        self._fill_owner: dict[ExecutionId, ClientOrderId] = {}
        self._early_commissions: dict[ExecutionId, list[CommissionReport]] = {}
        self._applied = 0
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, harness: BrokerHarness) -> BrokerSession:
        """Subscribe to the broker's events (before the test does anything)."""
        session = cls(harness)
        stream = harness.broker.events()

        async def record() -> None:
            async for event in stream:
                session.events.append(event)

        session._task = asyncio.get_running_loop().create_task(record())
        await asyncio.sleep(0)
        return session

    async def close(self) -> None:
        """Stop recording."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- shortcuts ---------------------------------------------------------------------------
    @property
    def broker(self) -> Broker:
        """The broker under test."""
        return self.harness.broker

    @property
    def stock(self) -> Instrument:
        """The harness's stock (known to the broker)."""
        return self.harness.stock

    @property
    def option(self) -> Instrument:
        """The harness's option (known to the broker)."""
        return self.harness.option

    async def price(self, price: str | Decimal, instrument: Instrument | None = None) -> None:
        """The market trades at `price` (the harness stock by default)."""
        await self.harness.set_price(instrument or self.harness.stock, Decimal(price))

    async def now(self) -> datetime:
        """The broker's current time."""
        return await self.harness.now()

    # -- building and sending ----------------------------------------------------------------
    def new_id(self) -> ClientOrderId:
        """A client order id unique to this session."""
        return ClientOrderId(f"CT-{self._prefix}-{next(self._ids)}")

    def request(
        self,
        side: Side,
        quantity: int | str,
        order_type: OrderType,
        *,
        instrument: Instrument | None = None,
        client_order_id: ClientOrderId | None = None,
        **fields: Any,
    ) -> OrderRequest:
        """An order request on the harness stock (by default); `fields` as in `OrderRequest`."""
        for name in (
            "limit_price",
            "stop_price",
            "trail_amount",
            "trail_percent",
            "trail_limit_offset",
        ):
            if fields.get(name) is not None:
                fields[name] = Decimal(fields[name])
        return OrderRequest(
            client_order_id=client_order_id or self.new_id(),
            instrument=instrument or self.harness.stock,
            side=side,
            quantity=Decimal(quantity),
            order_type=order_type,
            **fields,
        )

    async def approve(self, request: OrderRequest) -> ApprovedOrder:
        """The request with an approving decision, and its domain order (status SUBMITTED)."""
        approved = mint_approval_for_tests(request, await self.now())
        order = Order.from_request(request)
        now = await self.now()
        order.apply(
            OrderLifecycleEvent(
                request.client_order_id, OrderEventKind.SUBMITTED, ts_event=now, ts_init=now
            )
        )
        self.orders[request.client_order_id] = order
        return approved

    async def submit(self, request: OrderRequest) -> Submitted:
        """Send one order; a `BrokerRejected` is captured (not raised) in the result."""
        approved = await self.approve(request)
        try:
            return Submitted(await self.broker.submit(approved, timeout=TIMEOUT), None)
        except BrokerRejected as error:
            return Submitted(None, error)

    async def submit_list(self, requests: Sequence[OrderRequest]) -> Submitted:
        """Send a bracket or OCA group; a `BrokerRejected` is captured in the result."""
        approved = tuple([await self.approve(request) for request in requests])
        try:
            ids = await self.broker.submit_list(approved, timeout=TIMEOUT)
        except BrokerRejected as error:
            return Submitted(None, error)
        return Submitted(ids[0], None)

    # -- observing ---------------------------------------------------------------------------
    async def settle(self) -> list[BrokerEvent]:
        """Wait for the broker to emit everything caused so far, record it, apply it to the
        domain orders, and return every event recorded since the session started."""
        await self.harness.settle()
        quiet, seen = 0, len(self.events)
        for _ in range(_DRAIN_MAX_ROUNDS):
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self.events) == seen else 0
            seen = len(self.events)
            if quiet >= _DRAIN_QUIET_ROUNDS:
                break
        for event in self.events[self._applied :]:
            self._apply(event)
        self._applied = len(self.events)
        return list(self.events)

    def _apply(self, event: BrokerEvent) -> None:
        if isinstance(event, OrderLifecycleEvent):
            order = self.orders.get(event.client_order_id)
            if order is not None:
                if event.kind is OrderEventKind.ACCEPTED:
                    self._accepted.add(event.client_order_id)
                order.apply(event)
        elif isinstance(event, ExecutionFill):
            order = self.orders.get(event.client_order_id)
            if order is not None:
                self._fill_owner[event.execution_id] = event.client_order_id
                order.apply(event)
                for report in self._early_commissions.pop(event.execution_id, []):
                    order.apply(report)
        elif isinstance(event, CommissionReport):
            owner = self._fill_owner.get(event.execution_id)
            if owner is None:
                self._early_commissions.setdefault(event.execution_id, []).append(event)
            else:
                self.orders[owner].apply(event)

    def order(self, client_order_id: ClientOrderId) -> Order:
        """The domain order as the events so far have made it."""
        return self.orders[client_order_id]

    def status(self, request: OrderRequest) -> OrderStatus:
        """The domain order's status after the events so far."""
        return self.orders[request.client_order_id].status

    def kinds(self, request: OrderRequest) -> list[OrderEventKind]:
        """The lifecycle event kinds received for one order, in order."""
        return [
            event.kind
            for event in self.events
            if isinstance(event, OrderLifecycleEvent)
            and event.client_order_id == request.client_order_id
        ]

    def fills(self, request: OrderRequest | None = None) -> list[ExecutionFill]:
        """Distinct executions received (for one order, or all), first report of each."""
        seen: dict[ExecutionId, ExecutionFill] = {}
        for event in self.events:
            if isinstance(event, ExecutionFill) and (
                request is None or event.client_order_id == request.client_order_id
            ):
                seen.setdefault(event.execution_id, event)
        return list(seen.values())

    def commissions(self) -> list[CommissionReport]:
        """Every commission report received, in order."""
        return [event for event in self.events if isinstance(event, CommissionReport)]

    def filled_qty(self, request: OrderRequest) -> Decimal:
        """The sum of the distinct executions of one order."""
        return sum((fill.quantity for fill in self.fills(request)), Decimal(0))

    def was_rejected(self, request: OrderRequest, submitted: Submitted) -> bool:
        """True if the broker refused the order (raised `BrokerRejected` or sent REJECTED)."""
        if submitted.error is not None:
            return True
        return OrderEventKind.REJECTED in self.kinds(request)

    def accepted_before_fill(self, client_order_id: ClientOrderId) -> bool:
        """True if ACCEPTED was received before the first execution of the order (or it has
        no execution)."""
        for event in self.events:
            if isinstance(event, OrderLifecycleEvent) and event.client_order_id == client_order_id:
                if event.kind is OrderEventKind.ACCEPTED:
                    return True
            elif isinstance(event, ExecutionFill) and event.client_order_id == client_order_id:
                return False
        return True
