"""`IbkrBroker`: the `Broker` port on Interactive Brokers through ib_async.

Every order is qualified first (an unknown contract never produces a placeOrder), carries
`orderRef = "<operator>:<client order id>"` (never the operator in `Order.account`), and is sent
only while the connection is up and resynced; `submit` returns once IB acknowledged it. Queries
(`open_orders`, `positions`, `executions`, `account_summary`, `order_status`) ask IB each time.
Every call is bounded by its `timeout` and raises `BrokerTimeout`; IB's refusals raise
`BrokerRejected` and are not published again as events. It must never let an ib_async type or a
float cross the port, and never place an order the risk gate did not approve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import attrs
from ib_async import ExecutionFilter, Order, Trade

from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConfig, IbkrConnection, bounded
from ordergate.adapters.ibkr.contracts import ContractBook
from ordergate.adapters.ibkr.health import ConnectionHealth
from ordergate.adapters.ibkr.orders import OrderRecord, OrderTracker, PendingModify
from ordergate.adapters.ibkr.queries import IbkrQueries
from ordergate.adapters.ibkr.resync import AppliedExecutions, Resync
from ordergate.adapters.ibkr.stream import EventFanout
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import BrokerRejected, InvalidValue
from ordergate.domain.events import ConnectionStateChanged
from ordergate.domain.instruments import Instrument
from ordergate.domain.risk.decision import ApprovedOrder
from ordergate.domain.values import BrokerOrderId, ClientOrderId, ExecutionId
from ordergate.ports.approvals import Refusal, redeem
from ordergate.ports.broker import BrokerEvent

__all__ = ["IbkrBroker"]

_log = logging.getLogger(__name__)
_SWEEP_EVERY = 0.25


class IbkrBroker(IbkrQueries):
    """The IB adapter of the `Broker` port. Build with an `IbkrConfig`; `known_execution_ids`
    (and the time of the latest) seed the applied-executions set across process restarts."""

    def __init__(
        self,
        config: IbkrConfig,
        *,
        known_execution_ids: Iterable[str | ExecutionId] = (),
        last_execution_time: datetime | None = None,
        request_timeout: float = 10.0,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.config = config
        self._events: EventFanout[Any] = EventFanout()
        self.applied = AppliedExecutions(known_execution_ids, last_execution_time)
        self.connection = IbkrConnection(
            config, on_state=self._on_state, on_connected=self._on_connected
        )
        self.contracts = ContractBook(self.connection)
        self.orders = OrderTracker(self.connection, self.contracts, self.applied,
                                   self._events.publish, calendar)
        self.resync = Resync(self.connection, self.orders, self._events.publish,
                             timeout=request_timeout)
        self._incomplete: list[tuple[ClientOrderId, ...]] = []
        self._sweeper: asyncio.Task[None] | None = None

    # -- connection ------------------------------------------------------------------------------
    async def connect(self, *, timeout: float) -> None:
        """Connect, resync, start the heartbeat; idempotent when already connected."""
        await self.connection.connect(timeout=timeout)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep_commissions())

    async def disconnect(self, *, timeout: float) -> None:
        """Graceful shutdown. Working orders stay at IB, except the members of a bracket whose
        placement was cut off before its last child (they would sit untransmitted at IB): those
        are cancelled."""
        orphans = [self.orders.records[c] for group in self._incomplete for c in group
                   if c in self.orders.records and not self.orders.records[c].finished]
        if orphans and self.connection.is_ready():
            with contextlib.suppress(Exception):
                await bounded(self._cancel_all(orphans), timeout, "cancel incomplete order lists")
        self._incomplete.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.connection.disconnect()

    async def close(self) -> None:
        """Disconnect and end every `events()` subscription."""
        await self.disconnect(timeout=5.0)
        self._events.close()

    def is_connected(self) -> bool:
        """True while orders can be sent (connected and resynced, possibly DEGRADED by IB)."""
        return self.connection.is_ready()

    def connection_health(self) -> ConnectionHealth:
        """Typed connection health (heartbeat age, breaker, reconnect attempts)."""
        return self.connection.connection_health()

    def events(self) -> AsyncIterator[BrokerEvent]:
        """Every event from now on, in broker order per order. Besides the port's events this
        stream carries `FillRecovered` for executions found by a resync (SPEC §7)."""
        return cast(AsyncIterator[BrokerEvent], self._events.subscribe())

    async def sync(self, *, timeout: float = 5.0) -> None:
        """Return once everything IB sent before this call has been published (a round trip on
        the same socket), including expiries still being classified."""
        await self.connection.server_time(timeout=timeout)
        while self.orders.tasks:
            await bounded(asyncio.gather(*list(self.orders.tasks), return_exceptions=True),
                          timeout, "sync")

    # -- orders ----------------------------------------------------------------------------------
    async def qualify(self, instrument: Instrument, *, timeout: float) -> Instrument:
        """The instrument as IB knows it (IB's tick size); `BrokerRejected` if IB has none."""
        _, qualified = await self.contracts.qualify(instrument, timeout=timeout)
        return qualified

    async def submit(self, order: ApprovedOrder, *, timeout: float) -> BrokerOrderId:
        """Qualify, place, and return IB's permId once IB acknowledged the order."""
        (approved,) = self._redeem((order,))
        what = f"submit {approved.request.client_order_id}"
        ids = await bounded(self._place((approved,)), timeout, what)
        return ids[0]

    async def submit_list(
        self, orders: tuple[ApprovedOrder, ...], *, timeout: float
    ) -> tuple[BrokerOrderId, ...]:
        """A bracket (parent first: the parent and first child are held with transmit=False
        until the last child is placed) or an OCA group (each member transmitted as placed);
        if IB refuses a member, the accepted ones are cancelled and `BrokerRejected` raised."""
        approved = self._redeem(orders)
        first = approved[0].request.client_order_id
        return await bounded(self._place(approved), timeout, f"submit list {first}")

    def _redeem(self, orders: tuple[object, ...]) -> tuple[ApprovedOrder, ...]:
        """The gate's approvals of one send, used; a refusal is reported on `events()` first."""
        try:
            return redeem(orders)
        except Refusal as refusal:
            self._events.publish(refusal.event(datetime.now(UTC)))
            raise

    async def _place(self, orders: tuple[ApprovedOrder, ...]) -> tuple[BrokerOrderId, ...]:
        requests = [a.request for a in orders]
        for request in requests:
            if request.client_order_id in self.orders.records:
                raise BrokerRejected(f"client order id {request.client_order_id} was already "
                                     "sent; use a new id", 103)
        listed = {r.client_order_id for r in requests}
        for request in requests:  # checked before anything is placed: no half-sent bracket
            if request.parent_id is not None and request.parent_id not in listed:
                self._order_id_of(request.parent_id)
        await self.connection.ready(timeout=3600, operation="submit")
        qualified = {}
        for request in requests:
            if request.instrument.id not in qualified:
                qualified[request.instrument.id] = await self.contracts.qualify(
                    request.instrument, timeout=3600)
        records: list[OrderRecord] = []
        try:
            results = await self._send(requests, qualified, records)
        except asyncio.CancelledError:  # the caller's timeout: it learns nothing final
            raise
        except BaseException:
            for record in records:
                record.reported = True  # the caller learns the outcome from this exception
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for record in records:
                record.reported = True
            accepted = [r for r in records if r.accepted and not r.finished]
            await self._cancel_all(accepted)
            raise errors[0]
        return tuple(cast(BrokerOrderId, r) for r in results)

    async def _send(
        self, requests: list[Any], qualified: dict[Any, Any], records: list[OrderRecord]
    ) -> list[Any]:
        """Place every member (a bracket held until its last child) and await the acks."""
        ib = self.connection.ib
        for request in requests:  # nothing of a list is placed if one member cannot be sent
            contract, instrument = qualified[request.instrument.id]
            parsing.refuse_nul(
                contract,
                parsing.ib_order(
                    attrs.evolve(request, instrument=instrument),
                    operator_id=self.config.operator_id,
                    account=self.connection.account if self.config.account else "",
                ),
            )
        ids: dict[ClientOrderId, int] = {}
        members = {r.client_order_id for r in requests}
        bracket = any(r.parent_id in members for r in requests)
        group = tuple(r.client_order_id for r in requests)
        if bracket:  # until its last child is placed, a bracket sits untransmitted at IB
            self._incomplete.append(group)
        loop = asyncio.get_running_loop()
        for index, request in enumerate(requests):
            contract, instrument = qualified[request.instrument.id]
            order_id = ib.client.getReqId()
            ids[request.client_order_id] = order_id
            parent = 0
            if request.parent_id is not None:
                parent = ids.get(request.parent_id) or self._order_id_of(request.parent_id)
            # A bracket's parent and first child wait (transmit=False) for the last child;
            # OCA members stand alone at IB, so each is transmitted as it is placed.
            transmit = index == len(requests) - 1 if bracket else request.transmit
            ib_order = parsing.ib_order(
                attrs.evolve(request, instrument=instrument),
                operator_id=self.config.operator_id,
                account=self.connection.account if self.config.account else "",
                parent_order_id=parent,
                transmit=transmit,
            )
            ib_order.orderId = order_id
            record = self.orders.new_record(request, order_id, contract)
            record.ack = loop.create_future()
            records.append(record)
            ib.placeOrder(contract, ib_order)
        if group in self._incomplete:
            self._incomplete.remove(group)
        try:
            return await asyncio.gather(*(r.ack for r in records if r.ack),
                                        return_exceptions=True)
        finally:
            for record in records:
                if record.ack is not None and not record.ack.done():
                    record.ack.cancel()

    def _order_id_of(self, client_order_id: ClientOrderId) -> int:
        record = self.orders.records.get(client_order_id)
        if record is None:
            raise BrokerRejected(f"parent order {client_order_id} is unknown to this adapter")
        return record.order_id

    async def modify(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
        timeout: float,
    ) -> None:
        """Re-send the order with new values (a trailing stop's amount or percent too);
        returns when IB confirmed (UPDATED published)."""
        record = self._working(client_order_id, "modified")
        current = record.request
        retrail = trail_amount is not None or trail_percent is not None
        try:
            request = attrs.evolve(
                current,
                quantity=current.quantity if quantity is None else quantity,
                limit_price=current.limit_price if limit_price is None else limit_price,
                stop_price=current.stop_price if stop_price is None else stop_price,
                trail_amount=trail_amount if retrail else current.trail_amount,
                trail_percent=trail_percent if retrail else current.trail_percent,
            )
        except InvalidValue as exc:
            raise BrokerRejected(f"order {client_order_id} cannot be modified: {exc}") from None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send() -> None:
            await self.connection.ready(timeout=timeout, operation="modify")
            order = self._ib_order(record, request)
            parsing.refuse_nul(self._contract(record), order)
            record.modify = PendingModify(
                quantity, limit_price, stop_price, waiter, request, trail_amount, trail_percent
            )
            self.connection.ib.placeOrder(self._contract(record), order)
            await waiter

        await bounded(send(), timeout, f"modify {client_order_id}")

    async def cancel(self, client_order_id: ClientOrderId, *, timeout: float) -> None:
        """Ask IB to cancel; returns when IB confirmed (CANCELED published)."""
        record = self._working(client_order_id, "cancelled")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        record.cancel_waiter = waiter

        async def send() -> None:
            await self.connection.ready(timeout=timeout, operation="cancel")
            record.cancel_requested = True
            self.connection.ib.cancelOrder(self._live_order(record))
            await waiter

        await bounded(send(), timeout, f"cancel {client_order_id}")

    async def cancel_all(self, *, timeout: float) -> None:
        """IB's global cancel (reqGlobalCancel): every open order of the account, this client's
        and every other client's (and the TWS user's). IB sends no reply to the request itself:
        this client's orders report Cancelled, and `open_orders` shows when all have gone."""

        async def send() -> None:
            await self.connection.ready(timeout=timeout, operation="cancel_all")
            for record in self.orders.records.values():
                if not record.finished:
                    record.cancel_requested = True  # a Cancelled status is ours, not expiry
            self.connection.ib.reqGlobalCancel()  # type: ignore[no-untyped-call]

        await bounded(send(), timeout, "cancel_all")

    async def _cancel_all(self, records: list[OrderRecord]) -> None:
        for record in records:
            record.cancel_requested = True
            self.connection.ib.cancelOrder(self._live_order(record))

    def _working(self, client_order_id: ClientOrderId, verb: str) -> OrderRecord:
        record = self.orders.records.get(client_order_id)
        if record is None:
            raise BrokerRejected(f"order {client_order_id} is unknown; it cannot be {verb}", 10147)
        if record.finished:
            status = record.mirror.status.value
            raise BrokerRejected(f"order {client_order_id} is {status}; it cannot be {verb}", 161)
        return record

    def _ib_order(self, record: OrderRecord, request: Any) -> Order:
        parent = 0
        if request.parent_id is not None:
            parent = self._order_id_of(request.parent_id)
        order = parsing.ib_order(
            attrs.evolve(request, instrument=self._instrument(record)),
            operator_id=self.config.operator_id,
            account=self.connection.account if self.config.account else "",
            parent_order_id=parent,
            transmit=True,
        )
        order.orderId = record.order_id
        order.permId = record.perm_id
        return order

    def _instrument(self, record: OrderRecord) -> Instrument:
        known = self.contracts.known(record.request.instrument.id)
        return known[1] if known else record.request.instrument

    def _contract(self, record: OrderRecord) -> Any:
        known = self.contracts.known(record.request.instrument.id)
        return known[0] if known else record.contract

    def _live_order(self, record: OrderRecord) -> Order:
        trade = self._trade(record)
        if trade is not None:
            return trade.order
        return Order(orderId=record.order_id, clientId=self.config.client_id,
                     permId=record.perm_id)

    def _trade(self, record: OrderRecord) -> Trade | None:
        trades = self.connection.ib.wrapper.trades
        return trades.get((self.config.client_id, record.order_id))

    # -- internals -------------------------------------------------------------------------------
    def _on_state(self, event: ConnectionStateChanged) -> None:
        self._events.publish(event)

    async def _on_connected(self, full: bool) -> None:
        await self.resync.run(full)

    async def _sweep_commissions(self) -> None:
        """Late commissions: a fill whose commission did not follow within the grace period
        (IB reordered it, ib_async dropped it) gets it from reqExecutions."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_SWEEP_EVERY)
            overdue = [e for e, due in self.orders.awaiting_commission.items()
                       if due <= loop.time()]
            if not overdue or not self.connection.is_ready():
                continue
            try:
                await self._fetch_commissions()
            except Exception as exc:  # a failed sweep is retried on the next round
                _log.warning("commission sweep failed: %r", exc)

    async def _fetch_commissions(self) -> None:
        ib = self.connection.ib
        fills = await self.connection.request(
            None, lambda: ib.reqExecutionsAsync(ExecutionFilter()), 10.0, "commission sweep")
        for fill in fills:
            report = self.orders.reported_commission(fill)
            if report is not None:
                self.orders.commission(report)
