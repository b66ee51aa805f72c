"""Our orders at IB and the translation of ib_async's trade callbacks into broker events.

`OrderTracker` keeps one `OrderRecord` per client order id (found again from IB's `orderRef`
after a reconnect), a domain `Order` mirror that every lifecycle event must apply to before it is
published (so no event the transition table forbids ever leaves the adapter), the waiters of
`submit`/`modify`/`cancel`, and the execution and commission book-keeping (each execution id is
published once; its commission once, whenever it comes). Rejections reported to a waiting caller
are raised there and not published again. It must never await inside an ib_async callback and
never publish a lifecycle event for an order the mirror says is finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from ib_async import Contract, Trade
from ib_async.objects import CommissionReport as IbCommission
from ib_async.objects import Fill, Position

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConnection
from ordergate.adapters.ibkr.contracts import ContractBook
from ordergate.adapters.ibkr.expiry import SettlementWatch
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import BrokerError, BrokerRejected, OrdergateError
from ordergate.domain.events import FillRecovered, PositionSnapshot
from ordergate.domain.orders import (
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import BrokerOrderId, ClientOrderId

if TYPE_CHECKING:
    from ordergate.adapters.ibkr.resync import AppliedExecutions

__all__ = ["OrderRecord", "OrderTracker", "PendingModify"]

_log = logging.getLogger(__name__)
K = OrderEventKind
_WORKING_IB = frozenset({"PreSubmitted", "Submitted"})
_ENDED_IB = frozenset({"Cancelled", "ApiCancelled", "Inactive"})
_CANCEL_REFUSED = frozenset({161, 10147, 10148})


@attrs.define(eq=False)
class PendingModify:
    """A modification sent and not yet confirmed (values as sent, Decimal)."""

    quantity: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    waiter: asyncio.Future[None]
    request: OrderRequest
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None


@attrs.define(eq=False)
class OrderRecord:
    """One of our orders: the request, IB's ids, the domain mirror and the open waiters."""

    request: OrderRequest
    order_id: int
    mirror: Order
    generation: int
    expires_at: datetime | None = None
    contract: Contract | None = None
    perm_id: int = 0
    accepted: bool = False
    cancel_requested: bool = False
    closing: bool = False
    reported: bool = False
    """`submit` raised for this order: its refusal is the caller's, never published again."""
    ack: asyncio.Future[BrokerOrderId] | None = None
    cancel_waiter: asyncio.Future[None] | None = None
    modify: PendingModify | None = None

    @property
    def client_order_id(self) -> ClientOrderId:
        return self.request.client_order_id

    @property
    def finished(self) -> bool:
        """True once the mirror is terminal (or the broker's end is being classified)."""
        return self.closing or self.mirror.status.is_terminal

    @property
    def broker_order_id(self) -> BrokerOrderId | None:
        return BrokerOrderId(str(self.perm_id)) if self.perm_id else None


def session_close(moment: datetime, calendar: TradingCalendar) -> datetime:
    """The close of the session a DAY order placed at `moment` belongs to (the exchange
    calendar's: 16:00 New York, 13:00 on an early close; after the close, on a weekend or a
    holiday, the next session's)."""
    return calendar.close_after(moment)


class OrderTracker:
    """See the module docstring. `publish` receives every event, in broker order per order."""

    def __init__(
        self,
        connection: IbkrConnection,
        contracts: ContractBook,
        applied: AppliedExecutions,
        publish: Callable[[Any], None],
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.connection = connection
        self.calendar = xnys_calendar() if calendar is None else calendar
        self.settlements = SettlementWatch(
            lambda: connection.account, connection.ib.fills, publish
        )
        self.contracts = contracts
        self.applied = applied
        self.records: dict[ClientOrderId, OrderRecord] = {}
        self.by_order_id: dict[int, ClientOrderId] = {}
        self.max_order_id = 0
        self.awaiting_commission: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._publish = publish
        self._commissioned: set[str] = set()
        self._early_commissions: dict[str, IbCommission] = {}
        ib = connection.ib
        ib.openOrderEvent += self.on_open_order
        ib.orderStatusEvent += self.on_status
        ib.execDetailsEvent += self.on_execution
        ib.commissionReportEvent += self.on_commission
        ib.errorEvent += self.on_error
        ib.positionEvent += self.on_position

    # -- records ---------------------------------------------------------------------------------
    def new_record(self, request: OrderRequest, order_id: int, contract: Contract) -> OrderRecord:
        """Register an order about to be placed; the mirror starts SUBMITTED."""
        now = datetime.now(UTC)
        mirror = Order.from_request(request)
        mirror.apply(OrderLifecycleEvent(request.client_order_id, K.SUBMITTED, now, now))
        expires = None
        if request.time_in_force is TimeInForce.GTD and request.expire_at is not None:
            expires = request.expire_at.replace(microsecond=0)
        elif request.time_in_force is TimeInForce.DAY:
            expires = session_close(self.connection.server_now(), self.calendar)
        record = OrderRecord(request, order_id, mirror, self.connection.generation, expires,
                             contract)
        self.records[request.client_order_id] = record
        self.by_order_id[order_id] = request.client_order_id
        self.max_order_id = max(self.max_order_id, order_id)
        return record

    def adopt(self, trade: Trade) -> OrderRecord | None:
        """Register a working order an earlier process placed on this client id under this
        operator (its `orderRef`), so this one manages it (status, cancel, modify); None for
        an order that is not ours to manage. Nothing is published: the gate adopts the order
        from `open_orders` itself. Its fills before this process are in the audit log, not in
        the mirror, which starts ACCEPTED with nothing filled."""
        ref = parsing.parse_order_ref(trade.order.orderRef)
        config = self.connection.config
        if ref is None or ref[0] != config.operator_id or trade.order.clientId != config.client_id:
            return None
        if ref[1] in self.records:
            return self.records[ref[1]]
        instrument = self.contracts.instrument_for(trade.contract)
        request = parsing.request_from_ib(
            ref[1], instrument, trade.order, operator_id=config.operator_id
        )
        if request is None:
            return None
        record = self.new_record(request, trade.order.orderId, trade.contract)
        record.perm_id = trade.order.permId
        record.accepted = True
        self.quietly(record, K.ACCEPTED, "adopted from the broker")
        return record

    def record_for(self, trade: Trade) -> OrderRecord | None:
        """Our record of an ib_async trade, by `orderRef`, else by order id."""
        ref = parsing.parse_order_ref(trade.order.orderRef)
        record = self.records.get(ref[1]) if ref else None
        if record is None and trade.order.clientId == self.connection.config.client_id:
            cid = self.by_order_id.get(trade.order.orderId)
            record = self.records.get(cid) if cid else None
        if record is not None:
            if trade.order.permId:
                record.perm_id = trade.order.permId
            if record.contract is None or not record.contract.conId:
                record.contract = trade.contract
        return record

    # -- publishing ------------------------------------------------------------------------------
    def lifecycle(self, record: OrderRecord, kind: OrderEventKind, reason: str = "",
                  values: dict[str, Decimal] | None = None) -> bool:
        """Publish a lifecycle event if the mirror accepts it as a change."""
        now = datetime.now(UTC)
        event = OrderLifecycleEvent(
            record.client_order_id, kind, now, now, record.broker_order_id, reason,
            correlation_id=record.request.correlation_id, **(values or {}),  # type: ignore[arg-type]
        )
        try:
            changed = record.mirror.apply(event)
        except OrdergateError as exc:
            _log.warning("dropping %s for %s: %s", kind.value, record.client_order_id, exc)
            return False
        if changed:
            self._publish(event)
        return changed

    def quietly(self, record: OrderRecord, kind: OrderEventKind, reason: str) -> None:
        """Move the mirror without publishing (the caller learned it from an exception)."""
        now = datetime.now(UTC)
        with contextlib.suppress(OrdergateError):
            record.mirror.apply(OrderLifecycleEvent(record.client_order_id, kind, now, now,
                                                    reason=reason))

    def fill(self, fill: Fill, *, recovered: bool) -> bool:
        """Publish one execution once (as `FillRecovered` when resync found it)."""
        exec_id = fill.execution.execId
        ref = parsing.parse_order_ref(fill.execution.orderRef)
        if exec_id in self.applied or ref is None:
            return False
        cid = ref[1]
        record = self.records.get(cid)
        instrument = record.request.instrument if record else self.contracts.instrument_for(
            fill.contract)
        early = self._early_commissions.pop(exec_id, None) or self.reported_commission(fill)
        commission = parsing.commission_of(early, exec_id) if early else None
        now = datetime.now(UTC)
        event = parsing.execution_fill(fill, cid, instrument, now, commission=commission)
        if record is not None:
            event = attrs.evolve(event, correlation_id=record.request.correlation_id)
            self.accept(record)  # an execution proves the broker had the order
            try:
                record.mirror.apply(event)
            except OrdergateError as exc:  # the broker is the truth: publish it anyway
                _log.warning("fill %s does not fit order %s: %s", exec_id, cid, exc)
        self.applied.add(event.execution_id, event.ts_event)
        if event.commission is not None:
            self._commissioned.add(exec_id)
        else:
            grace = self.connection.config.commission_grace
            self.awaiting_commission[exec_id] = asyncio.get_running_loop().time() + grace
        self._publish(FillRecovered(event, now, now, event.correlation_id) if recovered
                      else event)
        if record is not None:
            self.settle_waiters(record)
        return True

    def commission(self, report: IbCommission) -> None:
        """Publish a commission once, for an execution already published."""
        exec_id = report.execId
        if exec_id in self._commissioned:
            return
        if exec_id not in self.applied:
            self._early_commissions[exec_id] = report
            return
        event = parsing.commission_report(report, datetime.now(UTC))
        if event is not None:
            self._commissioned.add(exec_id)
            self.awaiting_commission.pop(exec_id, None)
            self._publish(event)

    def reported_commission(self, fill: Fill) -> IbCommission | None:
        """IB's commission report of a fill, wherever ib_async keeps it (a fill returned by
        reqExecutions is a copy; the report may have gone to the live fill of the same id)."""
        exec_id = fill.execution.execId
        kept = self.connection.ib.wrapper.fills.get(exec_id)
        for report in (fill.commissionReport, kept.commissionReport if kept else None):
            if report is not None and report.execId == exec_id:
                return report
        return None

    # -- ib_async callbacks (synchronous) --------------------------------------------------------
    def on_open_order(self, trade: Trade) -> None:
        """openOrder: the broker has the order (ack), or confirms a modification."""
        record = self.record_for(trade)
        if record is None or trade.orderStatus.status in _ENDED_IB:
            return
        self.accept(record)
        self._check_modify(record, trade)

    def on_status(self, trade: Trade) -> None:
        """orderStatus (or an order error ib_async turned into a status)."""
        record = self.record_for(trade)
        if record is None:
            return
        status = trade.orderStatus.status
        entry = trade.log[-1] if trade.log else None
        code = entry.errorCode if entry is not None and entry.status == status else 0
        message = entry.message if entry is not None else ""
        if status in _WORKING_IB:
            self.accept(record)
            self._check_modify(record, trade)
        elif status == "ValidationError" and record.modify is not None:
            self._fail_modify(record, BrokerRejected(message, code or None))
        elif status in _ENDED_IB:
            self._ended(record, status, code, message)

    def _ended(self, record: OrderRecord, status: str, code: int, message: str) -> None:
        if code and record.modify is not None:
            self._fail_modify(record, BrokerRejected(message, code))  # the order is still live
            return
        if code in _CANCEL_REFUSED and record.cancel_waiter is not None:
            self._resolve(record.cancel_waiter, BrokerRejected(message, code))
            return
        if code in _CANCEL_REFUSED:
            return
        rejected = status == "Inactive" or (code and code != 202)
        if not record.accepted and record.ack is not None and not record.ack.done():
            error = BrokerRejected(message or f"order {status}", code or None)
            self._resolve(record.ack, error)
            self.quietly(record, K.REJECTED, str(error))
            return
        if rejected and record.reported:
            self.quietly(record, K.REJECTED, message or status)
        elif rejected:
            self.lifecycle(record, K.REJECTED, message or status)
        elif record.cancel_requested or record.request.time_in_force not in (
            TimeInForce.DAY, TimeInForce.GTD) or record.expires_at is None:
            self.lifecycle(record, K.CANCELED, message)
        elif self._parent_ended_unfilled(record):
            # IB cancels the children of a parent that ended without a fill; whatever the
            # clock says, the child did not expire (its own time in force may not have ended).
            self.lifecycle(record, K.CANCELED, "parent order ended without a fill")
        else:
            record.closing = True
            self.spawn(self._classify_end(record))
        self.settle_waiters(record)

    def _parent_ended_unfilled(self, record: OrderRecord) -> bool:
        parent_id = record.request.parent_id
        parent = None if parent_id is None else self.records.get(parent_id)
        return parent is not None and parent.finished and parent.mirror.filled_qty == 0

    def on_execution(self, trade: Trade, fill: Fill) -> None:
        """A live execution."""
        self.fill(fill, recovered=False)

    def on_commission(self, trade: Trade, fill: Fill, report: IbCommission) -> None:
        """A commission report ib_async matched to a fill."""
        self.commission(report)

    def on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        """Errors for orders ib_async does not track (e.g. cancels of orders it forgot)."""
        cid = self.by_order_id.get(req_id)
        record = self.records.get(cid) if cid else None
        if record is None or 2100 <= code < 2200 or code == 202:
            return
        if record.cancel_waiter is not None and code in _CANCEL_REFUSED:
            self._resolve(record.cancel_waiter, BrokerRejected(message, code))
        if record.modify is not None and code not in (0,):
            self._fail_modify(record, BrokerRejected(message, code))

    def on_position(self, position: Position) -> None:
        """Live position updates become `PositionSnapshot`s (our account only); an option's that
        ends it at expiry also becomes its settlement (`expiry.SettlementWatch`)."""
        if position.account != self.connection.account:
            return
        instrument = self.contracts.instrument_for(position.contract)
        view = parsing.broker_position(position, instrument)
        now = datetime.now(UTC)
        avg = view.avg_cost if view.quantity else None
        self._publish(PositionSnapshot(instrument.id, view.quantity, avg, now, now))
        self.settlements.on_position(position.contract.conId, instrument, view.quantity)

    # -- waiters ---------------------------------------------------------------------------------
    def accept(self, record: OrderRecord) -> None:
        """The broker has the order: resolve `submit`'s wait and publish ACCEPTED once."""
        if record.accepted:
            return
        record.accepted = True
        if record.ack is not None and not record.ack.done():
            record.ack.set_result(record.broker_order_id or BrokerOrderId(str(record.order_id)))
        self.lifecycle(record, K.ACCEPTED)

    def _check_modify(self, record: OrderRecord, trade: Trade) -> None:
        pending = record.modify
        if pending is None:
            return
        inst = record.request.instrument
        confirmed = (
            ("quantity", pending.quantity, parsing.quantity(trade.order.totalQuantity, inst)),
            ("limit_price", pending.limit_price, parsing.price(trade.order.lmtPrice, inst)),
            ("stop_price", pending.stop_price, parsing.price(trade.order.auxPrice, inst)),
        )
        stops = record.request.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if any(sent is not None and got is not None and sent != got
               for _, sent, got in confirmed[: 3 if stops else 2]):
            return  # an older report; wait for the one with the new values
        values = {name: sent for name, sent, _ in confirmed if sent is not None}
        for name, sent in (("trail_amount", pending.trail_amount),
                           ("trail_percent", pending.trail_percent)):
            if sent is not None:
                values[name] = sent
        record.modify = None
        record.request = pending.request
        self.lifecycle(record, K.UPDATED, values=values)
        self._resolve(pending.waiter, None)

    def _fail_modify(self, record: OrderRecord, error: BrokerError) -> None:
        pending, record.modify = record.modify, None
        if pending is not None:
            self._resolve(pending.waiter, error)

    def settle_waiters(self, record: OrderRecord) -> None:
        """Fail or resolve the cancel/modify waits of an order that has finished."""
        status = record.mirror.status
        if record.cancel_waiter is not None and status.is_terminal:
            outcome = None if status in (OrderStatus.CANCELED, OrderStatus.EXPIRED) else (
                BrokerRejected(f"order {record.client_order_id} is {status.value}", 161))
            self._resolve(record.cancel_waiter, outcome)
        if record.modify is not None and status.is_terminal:
            self._fail_modify(record, BrokerRejected(
                f"order {record.client_order_id} is {status.value}; it cannot be modified", 161))

    @staticmethod
    def _resolve(waiter: asyncio.Future[Any] | None, outcome: Any) -> None:
        if waiter is None or waiter.done():
            return
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)

    # -- ends the broker chose -------------------------------------------------------------------
    async def _classify_end(self, record: OrderRecord) -> None:
        """An unrequested cancel of a DAY/GTD order: EXPIRED if the broker's clock has reached
        the order's end, else CANCELED (an OCA sibling, a margin cancel...)."""
        try:
            now = await self.connection.server_time(timeout=5.0)
        except BrokerError:
            now = self.connection.server_now()
        record.closing = False
        expired = record.expires_at is not None and now >= record.expires_at
        self.lifecycle(record, K.EXPIRED if expired else K.CANCELED,
                       "time in force ended" if expired else "cancelled by the broker")
        self.settle_waiters(record)

    def spawn(self, coro: Any) -> None:
        """Run book-keeping work the harness and `sync()` wait for."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
