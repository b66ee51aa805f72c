"""Reconciliation with the broker, the source of truth: positions, open orders and executions.

`reconcile(dry_run=True)` only reports the differences. Without dry run, executions the broker
has and we never applied are applied once each (as `FillRecovered`), orders we hold as working
that the broker reports ended get their missed end (CANCELED / EXPIRED / REJECTED), and every
remaining difference is audited. Nothing is ever sent to the broker from here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.application.audit_records import system_record
from ordergate.application.desk import TradingDesk
from ordergate.application.events import BrokerEventProcessor
from ordergate.domain.errors import OrdergateError
from ordergate.domain.events import FillRecovered, ReconciliationDiff
from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.events import ExecutionFill, OrderEventKind, OrderLifecycleEvent
from ordergate.domain.values import ClientOrderId, InstrumentId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["Reconciler", "ReconciliationReport"]

_ENDS = {
    OrderStatus.CANCELED: OrderEventKind.CANCELED,
    OrderStatus.EXPIRED: OrderEventKind.EXPIRED,
    OrderStatus.REJECTED: OrderEventKind.REJECTED,
}


@attrs.frozen
class ReconciliationReport:
    """The differences found, and the fills recovered (empty in a dry run)."""

    diffs: tuple[ReconciliationDiff, ...]
    recovered: tuple[ExecutionFill, ...]
    dry_run: bool

    @property
    def clean(self) -> bool:
        return not self.diffs


class Reconciler:
    """Compares the portfolio with what the broker reports."""

    def __init__(
        self,
        *,
        broker: Broker,
        desk: TradingDesk,
        processor: BrokerEventProcessor,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
        timeout: float,
    ) -> None:
        self._broker = _ReadOnly(broker)
        self._desk = desk
        self._processor = processor
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._timeout = timeout
        self.is_foreign: Callable[[ClientOrderId], bool] = lambda cid: False

    async def reconcile(self, since: datetime, *, dry_run: bool = True) -> ReconciliationReport:
        """Diff executions since `since`, then positions and open orders."""
        now = self._clock.now()
        portfolio = self._desk.portfolio
        executions = await self._broker.executions(since, timeout=self._timeout)
        missing = [
            fill
            for fill in executions
            if not (
                (p := portfolio.position(fill.instrument_id)) is not None
                and p.has_execution(fill.execution_id)
            )
        ]
        diffs = [
            ReconciliationDiff(
                "execution",
                fill.execution_id.value,
                "missing",
                f"{fill.side.value} {fill.quantity} {fill.instrument_id} @ {fill.price}",
                now,
                now,
                fill.correlation_id,
                cause="a fill the gate never received (missed while the event stream was down)",
            )
            for fill in missing
        ]
        recovered: list[ExecutionFill] = []
        if not dry_run:
            for fill in missing:
                await self._processor.handle(FillRecovered(fill, now, now, fill.correlation_id))
                recovered.append(fill)
            await self.recover_order_ends()
        missing_qty: dict[InstrumentId, Decimal] = {}
        if dry_run:  # once recovered they are in our positions already
            for fill in missing:
                missing_qty[fill.instrument_id] = (
                    missing_qty.get(fill.instrument_id, Decimal(0)) + fill.signed_quantity
                )
        diffs.extend(await self._position_diffs(now, missing_qty))
        diffs.extend(await self._order_diffs(now))
        if not dry_run:
            for diff in diffs:
                await self._audit.append(system_record(diff, now))
                await self._publisher.publish(diff)
        return ReconciliationReport(tuple(diffs), tuple(recovered), dry_run)

    async def recover_order_ends(self) -> None:
        """Orders we hold as working that the broker no longer has working: apply how the
        broker says they ended (a CANCELED, EXPIRED or REJECTED missed while the link was down,
        e.g. an OCA sibling cancelled by a fill nobody heard), through the event processor, so
        it is recorded like any broker event. A filled one was moved by its recovered fills."""
        now = self._clock.now()
        working = {v.client_order_id for v in await self._broker.open_orders(timeout=self._timeout)}
        for order in list(self._desk.portfolio.working_orders()):
            cid = order.client_order_id
            if cid in working:
                continue
            try:
                view = await self._broker.order_status(cid, timeout=self._timeout)
            except OrdergateError:  # unknown to the broker, or not answered: the diff reports it
                continue
            kind = _ENDS.get(view.status)
            if kind is None:
                continue
            await self._processor.handle(
                OrderLifecycleEvent(
                    cid,
                    kind,
                    now,
                    now,
                    broker_order_id=view.broker_order_id,
                    reason="recovered by reconciliation: the broker reports it "
                    f"{view.status.value}",
                    correlation_id=order.request.correlation_id,
                )
            )

    async def _position_diffs(
        self, now: datetime, missing_qty: dict[InstrumentId, Decimal]
    ) -> list[ReconciliationDiff]:
        portfolio = self._desk.portfolio
        theirs = {
            p.instrument_id: p.quantity for p in await self._broker.positions(timeout=self._timeout)
        }
        ours = {p.instrument_id: p.quantity for p in portfolio.open_positions()}
        diffs = []
        for iid in sorted(set(theirs) | set(ours)):
            mine, broker = ours.get(iid, Decimal(0)), theirs.get(iid, Decimal(0))
            if mine != broker:
                diffs.append(
                    ReconciliationDiff(
                        "position",
                        iid.value,
                        str(mine),
                        str(broker),
                        now,
                        now,
                        cause=_position_cause(missing_qty.get(iid, Decimal(0)), mine, broker),
                    )
                )
        return diffs

    async def _order_diffs(self, now: datetime) -> list[ReconciliationDiff]:
        portfolio = self._desk.portfolio
        views = {
            v.client_order_id: v for v in await self._broker.open_orders(timeout=self._timeout)
        }
        working = {o.client_order_id: o for o in portfolio.working_orders()}
        # Another client's working order is the broker's and theirs, not a difference.
        views = {
            cid: v
            for cid, v in views.items()
            if cid in portfolio.orders or not self.is_foreign(cid)
        }
        diffs = []
        for cid in sorted(set(views) | set(working)):
            view, order = views.get(cid), working.get(cid)
            if view is None and order is not None:
                diffs.append(
                    ReconciliationDiff(
                        "open_order",
                        cid.value,
                        order.status.value,
                        "not working",
                        now,
                        now,
                        cause="its end (fill, cancel or expiry) never reached the gate",
                    )
                )
            elif view is not None and order is None:
                diffs.append(
                    ReconciliationDiff(
                        "open_order",
                        cid.value,
                        "unknown",
                        view.status.value,
                        now,
                        now,
                        cause="a working order the gate neither placed nor adopted",
                    )
                )
            elif view is not None and order is not None and view.filled_qty != order.filled_qty:
                diffs.append(
                    ReconciliationDiff(
                        "open_order",
                        cid.value,
                        f"filled {order.filled_qty}",
                        f"filled {view.filled_qty}",
                        now,
                        now,
                        cause="fills of this order the gate has not applied",
                    )
                )
        return diffs


def _position_cause(missing: Decimal, ours: Decimal, broker: Decimal) -> str:
    if missing and ours + missing == broker:
        return "the missed executions listed (healed by applying them once)"
    return (
        "not explained by any execution the broker reports (a trade outside this gate, a "
        "transfer or a settlement never received, or fills older than the broker's report)"
    )


class _ReadOnly:
    """The broker's query methods only: reconciliation can never send an order."""

    def __init__(self, broker: Broker) -> None:
        self.executions = broker.executions
        self.positions = broker.positions
        self.open_orders = broker.open_orders
        self.order_status = broker.order_status
