"""The orders a `SimGatewayEngine` holds, and the translation of the matching engine's events into
the emulator's `OrderUpdated` / `OrderExecuted` / `OrderRejected`, in causal order.

Each order's gateway-side state (status, filled quantity, average price) is rebuilt from the
simulator's events one by one — never read from the simulator's live state, which has already
moved on to the end of the bar — so every `OrderView` says what was true when its event happened:
an order is announced (HELD or WORKING) before its first execution, the update that reports a fill
follows the `OrderExecuted` for it, and a bracket child turns WORKING right after the fill of its
parent that released it. Realised PnL per execution comes from a shadow of the account's positions
(the domain `Position`, as the simulator's own ledger keeps them). No I/O, never `ib_async`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineRefusal,
    OptionSettled,
    OrderExecuted,
    OrderRejected,
    OrderUpdated,
)
from ordergate.adapters.gateway_sim.engine_types import (
    ContractSpec,
    ExecutionReport,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    OrderView,
)
from ordergate.adapters.gateway_sim.exec_ids import ExecutionIds
from ordergate.adapters.gateway_sim.sim_translate import refusal_reason
from ordergate.domain.expiry import settlement_legs
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.portfolio.position import Position
from ordergate.domain.settlement import (
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
)
from ordergate.domain.values import ZERO, ClientOrderId, InstrumentId, Side
from ordergate.ports.broker import BrokerEvent

__all__ = ["SimOrderBook", "SimOrderRecord"]

_K = OrderEventKind
_TRAILING = {OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT}
_LIMITED = {OrderType.LIMIT, OrderType.STOP_LIMIT}


@attrs.define
class SimOrderRecord:
    """One client order as the gateway knows it, and its domain twin in the simulator."""

    key: OrderKey
    perm_id: int
    contract: ContractSpec
    spec: OrderSpec
    account: str
    request: OrderRequest
    parent: SimOrderRecord | None = None
    submitted: bool = False
    """Handed to the matching engine (False while held for a later transmit)."""
    accepted: bool = False
    announced: bool = False
    status: OrderStatus = OrderStatus.HELD
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    reason: str = ""
    updated_at: datetime | None = None

    @property
    def client_order_id(self) -> ClientOrderId:
        """The simulator's (and our IBKR adapter's) id of this order."""
        return self.request.client_order_id

    @property
    def root(self) -> SimOrderRecord:
        """The top of this order's bracket (itself when it has no parent)."""
        record = self
        while record.parent is not None:
            record = record.parent
        return record

    def view(self) -> OrderView:
        """The record frozen as the emulator's `OrderView`."""
        return OrderView(
            key=self.key,
            perm_id=self.perm_id,
            contract=self.contract,
            spec=self.spec,
            status=self.status,
            filled=self.filled,
            remaining=max(self.spec.quantity - self.filled, ZERO),
            avg_fill_price=self.notional / self.filled if self.filled else ZERO,
            last_fill_price=self.last_fill_price,
            account=self.account,
            updated_at=self.updated_at,
            reason=self.reason,
        )


class SimOrderBook:
    """Every order placed through the gateway, and the event translation (module docstring).

    `emit` receives each engine event as it is produced.
    """

    def __init__(
        self,
        emit: Callable[[EngineEvent], None],
        *,
        first_perm_id: int = 1_000_001,
        execution_ids: ExecutionIds | None = None,
        spec_for: Callable[[Instrument], ContractSpec] | None = None,
        account: str = "",
    ) -> None:
        self._emit = emit
        self._spec_for = spec_for
        self._account = account
        self._execution_ids = execution_ids or ExecutionIds()
        self._by_key: dict[OrderKey, SimOrderRecord] = {}
        self._by_cid: dict[ClientOrderId, SimOrderRecord] = {}
        self._perm_ids = itertools.count(first_perm_id)
        self._positions: dict[InstrumentId, Position] = {}
        self.executions: list[ExecutionReport] = []

    # -- records ---------------------------------------------------------------------------------
    def new(
        self,
        key: OrderKey,
        contract: ContractSpec,
        spec: OrderSpec,
        *,
        account: str,
        request: OrderRequest,
        parent: SimOrderRecord | None,
    ) -> SimOrderRecord:
        """Record a newly placed order (HELD, not yet handed to the simulator)."""
        record = SimOrderRecord(
            key, next(self._perm_ids), contract, spec, account, request, parent
        )
        self._by_key[key] = record
        self._by_cid[record.client_order_id] = record
        return record

    def forget(self, record: SimOrderRecord) -> None:
        """Drop an order the simulator refused at once (a refusal changes nothing)."""
        self._by_key.pop(record.key, None)
        self._by_cid.pop(record.client_order_id, None)

    def by_key(self, key: OrderKey) -> SimOrderRecord | None:
        """The order placed with `key`, if any."""
        return self._by_key.get(key)

    def knows(self, cid: ClientOrderId) -> bool:
        """True when a recorded order has client order id `cid`."""
        return cid in self._by_cid

    def records(self) -> Iterator[SimOrderRecord]:
        """Every recorded order, oldest first (records are only ever added in placement order)."""
        return iter(list(self._by_key.values()))

    def family(self, record: SimOrderRecord) -> list[SimOrderRecord]:
        """`record` and the held orders that go in with it, in the order the client placed them:
        the untransmitted members of its bracket, and of its OCA group."""
        root, oca = record.root, record.spec.oca_group
        return [
            r
            for r in self.records()
            if r is record
            or (
                not r.submitted
                and not r.status.is_done
                and r.key.client_id == record.key.client_id
                and (r.root is root or (bool(oca) and r.spec.oca_group == oca))
            )
        ]

    # -- announcing ------------------------------------------------------------------------------
    def announce(self, record: SimOrderRecord, at: datetime) -> None:
        """Report `record` as it stands now."""
        record.announced = True
        record.updated_at = at
        self._emit(OrderUpdated(record.view()))

    def cancel_held(self, record: SimOrderRecord, reason: str, at: datetime) -> None:
        """Cancel an order the simulator never saw, and its held children."""
        record.status = OrderStatus.CANCELLED
        record.reason = reason
        self.announce(record, at)
        self._cancel_held_children(record, at)

    def _cancel_held_children(self, record: SimOrderRecord, at: datetime) -> None:
        for child in self.records():
            if child.parent is record and not child.submitted and not child.status.is_done:
                self.cancel_held(child, f"parent order {record.key.order_id} ended", at)

    # -- simulator events --------------------------------------------------------------------------
    def absorb(
        self, events: Sequence[BrokerEvent], *, hold_back: ClientOrderId | None = None
    ) -> EngineRefusal | None:
        """Translate and emit `events` in order. A rejection of `hold_back` (the order being
        placed or modified by the caller right now) is not emitted but returned, for the caller
        to raise: a refused order is forgotten, a refused modification leaves the order as is."""
        refusal: EngineRefusal | None = None
        commissions = {
            e.execution_id: e.commission for e in events if isinstance(e, CommissionReport)
        }
        for event in events:
            if isinstance(event, ExecutionFill):
                record = self._by_cid.get(event.client_order_id)
                if record is not None:
                    self._execution(record, event, commissions.get(event.execution_id, ZERO))
            elif isinstance(event, OrderLifecycleEvent):
                record = self._by_cid.get(event.client_order_id)
                if record is not None:
                    refusal = self._lifecycle(record, event, hold_back) or refusal
            elif isinstance(event, OptionExercised | OptionAssigned | OptionExpired):
                self._settlement(event)
        return refusal

    def _settlement(self, event: OptionSettlement) -> None:
        """An option position settled in the simulator, reported as IB does: an exercise or an
        assignment is two executions outside any order (order id 0, perm id 0, no orderRef) —
        the option removed at price 0, the stock delivered at the strike — and both positions
        change; a lapse only removes the position (no execution)."""
        if self._spec_for is None:
            return
        reports: list[ExecutionReport] = []
        contracts: list[ContractSpec] = []
        lapsed = isinstance(event, OptionExpired)
        for instrument, quantity, price in settlement_legs(event):
            spec = self._spec_for(instrument)
            contracts.append(spec)
            position = self._positions.get(instrument.id)
            if position is None:
                position = self._positions[instrument.id] = Position(instrument)
            position.deliver(quantity, price, event.ts_event)
            if lapsed:
                continue
            reports.append(
                ExecutionReport(
                    exec_id=self._execution_ids.next(),
                    key=OrderKey(0, 0),
                    perm_id=0,
                    contract=spec,
                    account=self._account,
                    side=Side.BUY if quantity > 0 else Side.SELL,
                    quantity=abs(quantity),
                    price=price,
                    time=event.ts_event,
                    cum_qty=abs(quantity),
                    avg_price=price,
                    commission=ZERO,  # IB charges none for an exercise or assignment
                    exchange="",
                )
            )
        self.executions.extend(reports)
        self._emit(OptionSettled(self._account, tuple(reports), tuple(contracts)))

    def _lifecycle(
        self, record: SimOrderRecord, event: OrderLifecycleEvent, hold_back: ClientOrderId | None
    ) -> EngineRefusal | None:
        kind, at = event.kind, event.ts_event
        held_back = record.client_order_id == hold_back
        if kind is _K.ACCEPTED:
            record.accepted = True
            released = record.parent is None or record.parent.filled > 0
            record.status = OrderStatus.WORKING if released else OrderStatus.HELD
            self.announce(record, at)
        elif kind is _K.REJECTED:
            record.status = OrderStatus.INACTIVE
            record.reason = event.reason
            if held_back and not record.announced:
                self.forget(record)
                return EngineRefusal(refusal_reason(event.reason), event.reason)
            record.updated_at = at
            self._emit(OrderRejected(record.key, refusal_reason(event.reason), event.reason))
            self._cancel_held_children(record, at)
        elif kind is _K.MODIFY_REJECTED:
            refusal = EngineRefusal(refusal_reason(event.reason), event.reason)
            if held_back:
                return refusal
            self._emit(OrderRejected(record.key, refusal.reason, event.reason))
        elif kind is _K.UPDATED:
            self._updated(record, event)
            self.announce(record, at)
        elif kind in (_K.CANCELED, _K.EXPIRED):
            record.status = OrderStatus.CANCELLED
            record.reason = event.reason
            self.announce(record, at)
            self._cancel_held_children(record, at)
        return None

    @staticmethod
    def _updated(record: SimOrderRecord, event: OrderLifecycleEvent) -> None:
        """A confirmed modification, an OCA or bracket reduction, or a trailing stop's move."""
        spec = record.spec
        kind = spec.order_type
        if event.quantity is not None:
            spec = attrs.evolve(spec, quantity=event.quantity)
        if event.limit_price is not None and kind in _LIMITED:
            spec = attrs.evolve(spec, limit_price=event.limit_price)
        if event.stop_price is not None and kind in _TRAILING:
            spec = attrs.evolve(spec, trail_stop_price=event.stop_price)
        elif event.stop_price is not None:
            spec = attrs.evolve(spec, stop_price=event.stop_price)
        record.spec = spec
        if record.filled and record.filled >= record.spec.quantity:
            record.status = OrderStatus.FILLED

    def _execution(self, record: SimOrderRecord, fill: ExecutionFill, commission: Decimal) -> None:
        position = self._positions.get(fill.instrument_id)
        if position is None:
            position = self._positions[fill.instrument_id] = Position(record.contract.instrument)
        closing = position.quantity * fill.signed_quantity < 0
        realized = position.apply(fill)
        record.filled += fill.quantity
        record.notional += fill.quantity * fill.price
        record.last_fill_price = fill.price
        report = ExecutionReport(
            exec_id=self._execution_ids.next(),  # IB's ids, unique across restarts
            key=record.key,
            perm_id=record.perm_id,
            contract=record.contract,
            account=record.account,
            side=fill.side,
            quantity=fill.quantity,
            price=fill.price,
            time=fill.ts_event,
            cum_qty=record.filled,
            avg_price=record.notional / record.filled,
            commission=commission,
            realized_pnl=realized if closing else None,
            order_ref=record.spec.order_ref,
        )
        self.executions.append(report)
        self._emit(OrderExecuted(report))
        if record.filled >= record.spec.quantity:
            record.status = OrderStatus.FILLED
        self.announce(record, fill.ts_event)
        for child in self._children(record):
            if child.accepted and child.status is OrderStatus.HELD:
                child.status = OrderStatus.WORKING  # the parent's fill released it
                self.announce(child, fill.ts_event)

    def _children(self, record: SimOrderRecord) -> Iterable[SimOrderRecord]:
        return [r for r in self.records() if r.parent is record]
