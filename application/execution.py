"""`ExecutionGate`: the only path from an order request to `Broker.submit`.

For every request: the risk gate decides; the decision is appended to the audit log and is
durable *before* anything else happens; only an approving decision becomes an `ApprovedOrder`
for the broker. An audit failure stops the order (it is never logged-and-skipped). In dry-run
mode the full gate runs and nothing is sent.

What is written before a send — the decision of every order and, when they are to be sent, the
`broker.submit` record — goes in one write (`append_many`: one transaction and one fsync). The
broker's answer (`broker.submit_result`) is its own durable append after the call, started as
soon as the broker returns (on every path: sent, rejected, timed out, failed, interrupted) but
not awaited by the caller: only what must precede the broker call waits for the disk. The
gate's `settle` and `stop` wait for every result started (`results_recorded`); a result that
could not be stored is logged and fails the next order before anything is written for it (the
audit store is broken: nothing more is sent until it answers again).

This object keeps its broker private and exposes no way to submit except `submit`/`submit_list`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

import attrs

from ordergate.application.audit_records import (
    broker_call_record,
    decision_record,
)
from ordergate.application.changes import OrderChanges
from ordergate.application.desk import TradingDesk
from ordergate.application.logs import log_order_event
from ordergate.application.publishing import BufferedPublisher
from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout
from ordergate.domain.events import RiskDecisionMade
from ordergate.domain.orders.change import OrderChange
from ordergate.domain.orders.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.orders.order import Order
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import ApprovedOrder, RiskDecision
from ordergate.domain.risk.gate import RiskGate
from ordergate.domain.values import BrokerOrderId, ClientOrderId, CorrelationId
from ordergate.ports.approvals import APPROVALS
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock

__all__ = ["ExecutionGate"]

_log = logging.getLogger(__name__)

_INTERRUPTED = "the caller was cancelled before the broker answered; reconcile to learn more"
# A change to a working order is judged as the order would stand after it: the duplicate guard
# (its id is known) and the submit rate (nothing new is placed) do not apply to it.
_NOT_FOR_CHANGES = frozenset({"duplicate_guard", "max_submit_rate"})


class ExecutionGate:
    """Decide, audit, then (only if approved) send."""

    def __init__(
        self,
        *,
        broker: Broker,
        audit: AuditLog,
        clock: Clock,
        publisher: BufferedPublisher,
        desk: TradingDesk,
        mode: ExecutionMode,
        timeout: float,
        gate: RiskGate | None = None,
    ) -> None:
        self.__broker = broker
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._desk = desk
        self._gate = gate or RiskGate()
        self.mode = mode
        self._timeout = timeout
        self._results: set[asyncio.Task[None]] = set()  # `broker.submit_result` appends in flight
        self._result_failure: Exception | None = None  # one that failed, not yet reported
        self.__changes = OrderChanges(
            broker=broker,
            audit=audit,
            clock=clock,
            publisher=publisher,
            desk=desk,
            mode=mode,
            timeout=timeout,
            gate=attrs.evolve(
                self._gate,
                rules=tuple(r for r in self._gate.rules if r.name not in _NOT_FOR_CHANGES),
            ),
        )

    async def submit(self, request: OrderRequest) -> OrderResult:
        """Run one request through the gate; send it if approved (and not a dry run)."""
        results = await self.submit_list((request,))
        return results[0]

    async def submit_list(self, requests: Sequence[OrderRequest]) -> list[OrderResult]:
        """Gate every order of a bracket/OCA list; send the list only if all are approved."""
        now = self._clock.now()
        orders: list[Order] = []
        decisions: list[RiskDecision] = []
        for request in requests:
            decision = self._gate.evaluate(request, self._desk.risk_context(request, now))
            order = Order.from_request(request)
            self._desk.portfolio.add_order(order)
            orders.append(order)
            decisions.append(decision)
        records = [decision_record(o.request, d) for o, d in zip(orders, decisions, strict=True)]
        approved = all(d.approved for d in decisions)
        sent_at = self._clock.now()
        if approved and self.mode is not ExecutionMode.DRY_RUN:
            records.append(submit_record(orders, sent_at))
        try:
            durable = await self._append_before_send(records)
        except Exception as exc:  # any store failure stops the order: nothing is sent
            return self._fail_all(orders, exc)
        # The publisher buffers (`BufferedPublisher`): this can neither fail nor wait, so the
        # durable records and the broker call have nothing between them that could stop the send.
        for order, decision in zip(orders, decisions, strict=True):
            await self._publisher.publish(
                RiskDecisionMade(decision, now, now, order.request.correlation_id)
            )
        if not approved:
            results = self._deny_all(orders, decisions)
        elif self.mode is ExecutionMode.DRY_RUN:
            for order in orders:
                self._desk.remember(order.request, now, submitted=False)
            results = [
                OrderResult.from_order(
                    o, now, self.mode, decision=d, status=OrderResultStatus.SIMULATED
                )
                for o, d in zip(orders, decisions, strict=True)
            ]
        else:
            results = await self._send(orders, decisions, sent_at, durable)
        return results

    async def _append_before_send(self, records: list[AuditRecord]) -> list[AuditEntry]:
        """Make `records` durable, in order, before anything is sent (one fsync when possible).

        A `broker.submit_result` that could not be stored fails this write (reported once)."""
        failure, self._result_failure = self._result_failure, None
        if failure is not None:
            raise AuditResultLost(failure)
        if len(records) == 1:
            return [await self._audit.append(records[0])]
        return await self._audit.append_many(records)

    def _fail_all(self, orders: list[Order], exc: Exception) -> list[OrderResult]:
        ts = self._clock.now()
        reason = f"audit log failed ({type(exc).__name__}: {exc}); nothing was sent"
        for order in orders:
            if not order.status.is_terminal:
                _mark(
                    order,
                    OrderLifecycleEvent(
                        order.client_order_id,
                        OrderEventKind.DENIED,
                        ts,
                        ts,
                        reason=reason,
                        correlation_id=order.request.correlation_id,
                    )
                )
        return [
            OrderResult.from_order(o, ts, self.mode, reason=reason, status=OrderResultStatus.FAILED)
            for o in orders
        ]

    def _deny_all(self, orders: list[Order], decisions: list[RiskDecision]) -> list[OrderResult]:
        results = []
        ts = self._clock.now()
        reasons = "; ".join(d.explain() for d in decisions if not d.approved)
        for order, decision in zip(orders, decisions, strict=True):
            self._desk.remember(order.request, ts, submitted=False)
            reason = order_reason(decision, reasons)
            _mark(
                order,
                OrderLifecycleEvent(
                    order.client_order_id,
                    OrderEventKind.DENIED,
                    ts,
                    ts,
                    reason=reason,
                    correlation_id=order.request.correlation_id,
                )
            )
            results.append(
                OrderResult.from_order(order, ts, self.mode, decision=decision, reason=reason)
            )
        return results

    async def _send(
        self,
        orders: list[Order],
        decisions: list[RiskDecision],
        now: datetime,
        durable: list[AuditEntry],
    ) -> list[OrderResult]:
        """Send approved orders whose decisions and `broker.submit` record are `durable`.

        Their approvals are issued (from the durable entries) just before the broker call and
        withdrawn when it returns: an approval is good for this one call and nothing else.
        """
        approved = tuple(
            ApprovedOrder(o.request, d) for o, d in zip(orders, decisions, strict=True)
        )
        APPROVALS.issue(approved, durable)
        try:
            return await self._call_broker(orders, decisions, approved, now)
        finally:
            APPROVALS.withdraw(approved)

    async def _call_broker(
        self,
        orders: list[Order],
        decisions: list[RiskDecision],
        approved: tuple[ApprovedOrder, ...],
        now: datetime,
    ) -> list[OrderResult]:
        for order in orders:
            self._desk.remember(order.request, now, submitted=True)
            _mark(
                order,
                OrderLifecycleEvent(
                    order.client_order_id,
                    OrderEventKind.SUBMITTED,
                    now,
                    now,
                    correlation_id=order.request.correlation_id,
                )
            )
        status: OrderResultStatus | None = None
        reason = ""
        ids: tuple[BrokerOrderId, ...] = ()
        try:
            if len(approved) == 1:
                ids = (await self.__broker.submit(approved[0], timeout=self._timeout),)
            else:
                ids = await self.__broker.submit_list(approved, timeout=self._timeout)
        except BrokerTimeout as exc:
            status, reason = OrderResultStatus.TIMEOUT, str(exc)
        except BrokerRejected as exc:
            status, reason = OrderResultStatus.REJECTED, str(exc)
            self._reject(orders, reason)
        except BrokerError as exc:
            status, reason = OrderResultStatus.FAILED, str(exc)
            self._reject(orders, reason)
        except asyncio.CancelledError:
            # The caller gave up while the broker had the request: the order may exist there.
            # The `broker.submit` record still gets its result before the cancellation goes on.
            self._record_result(orders, (), "INTERRUPTED", _INTERRUPTED)
            raise
        except Exception as exc:  # an adapter bug: the outcome is unknown, say so and go on
            status = OrderResultStatus.FAILED
            reason = f"broker call failed ({type(exc).__name__}: {exc}); reconcile to learn more"
        done = self._record_result(orders, ids, status.value if status else "SENT", reason)
        for order, broker_id in zip(orders, ids, strict=False):
            if order.broker_order_id is None:
                order.broker_order_id = broker_id
        return [
            OrderResult.from_order(order, done, self.mode, decision=d, reason=reason, status=status)
            for order, d in zip(orders, decisions, strict=True)
        ]

    def _record_result(
        self, orders: list[Order], ids: tuple[BrokerOrderId, ...], status: str, reason: str
    ) -> datetime:
        """Start the `broker.submit_result` that follows every `broker.submit` record.

        Its append is a task of its own: the caller does not wait for it (nor can its
        cancellation stop it); `results_recorded` does.
        """
        done = self._clock.now()
        record = broker_call_record(
            "submit_result",
            done,
            orders[0].request.correlation_id,
            client_order_ids=[o.client_order_id.value for o in orders],
            broker_order_ids=[i.value for i in ids],
            status=status,
            reason=reason,
        )
        task = asyncio.get_running_loop().create_task(self._append_result(record))
        self._results.add(task)
        task.add_done_callback(self._results.discard)
        return done

    async def _append_result(self, record: AuditRecord) -> None:
        try:
            await self._audit.append(record)
        except Exception as exc:  # the store is broken: the next order hears of it
            self._result_failure = exc
            _log.error(
                "recording %s for %s failed: %s: %s",
                record.kind,
                record.payload.get("client_order_ids"),
                type(exc).__name__,
                exc,
            )

    async def results_recorded(self) -> None:
        """Wait until every `broker.submit_result` started so far is durable (or failed)."""
        while self._results:
            await asyncio.gather(*tuple(self._results))

    def _reject(self, orders: list[Order], reason: str) -> None:
        ts = self._clock.now()
        for order in orders:
            if order.status.is_terminal:
                continue
            _mark(
                order,
                OrderLifecycleEvent(
                    order.client_order_id,
                    OrderEventKind.REJECTED,
                    ts,
                    ts,
                    reason=reason,
                    correlation_id=order.request.correlation_id,
                )
            )

    # -- changes to working orders (application/changes.py) -------------------------------
    async def modify(self, order: Order, change: OrderChange) -> OrderResult:
        """Gate a change of a working order; see `OrderChanges.modify`."""
        return await self.__changes.modify(order, change)

    async def cancel(
        self,
        client_order_id: ClientOrderId,
        order: Order | None,
        correlation: CorrelationId | None = None,
    ) -> OrderResult:
        """Cancel a working order through the gate; see `OrderChanges.cancel`."""
        return await self.__changes.cancel(client_order_id, order, correlation)


class AuditResultLost(Exception):
    """A `broker.submit_result` could not be stored; the next order fails with it."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(
            f"an earlier broker.submit_result could not be stored ({type(cause).__name__}: "
            f"{cause})"
        )


def submit_record(orders: Sequence[Order], ts: datetime) -> AuditRecord:
    """The `broker.submit` record of the orders about to be sent (written before the call)."""
    return broker_call_record(
        "submit",
        ts,
        orders[0].request.correlation_id,
        client_order_ids=[o.client_order_id.value for o in orders],
    )


def order_reason(decision: RiskDecision, list_reasons: str) -> str:
    """The denial text of one order (its own reasons, or the list's when it was fine itself)."""
    return decision.explain() if not decision.approved else f"list denied: {list_reasons}"


def _mark(order: Order, event: OrderLifecycleEvent) -> None:
    """Apply a status the gate itself decides (DENIED, SUBMITTED, REJECTED) and log it, as the
    event pump logs the statuses the broker reports: one line per order status change."""
    order.apply(event)
    log_order_event(event)
