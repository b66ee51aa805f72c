"""`ExecutionGate`: the only path from an order request to `Broker.submit`.

For every request: the risk gate decides; the decision is appended to the audit log and is
durable *before* anything else happens; only an approving decision becomes an `ApprovedOrder`
for the broker. An audit failure stops the order (it is never logged-and-skipped). In dry-run
mode the full gate runs and nothing is sent.

What is written before a send — the decision of every order and, when they are to be sent, the
`broker.submit` record — goes in one write (`append_many`: one transaction and one fsync). The
broker's answer (`broker.submit_result`) is its own durable append after the call.

This object keeps its broker private and exposes no way to submit except `submit`/`submit_list`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from ordergate.application.audit_records import (
    broker_call_record,
    change_decision_record,
    decision_record,
)
from ordergate.application.desk import TradingDesk
from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout
from ordergate.domain.events import RiskDecisionMade
from ordergate.domain.orders.change import OrderChange
from ordergate.domain.orders.enums import OrderStatus
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
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["ExecutionGate"]

_INTERRUPTED = "the caller was cancelled before the broker answered; reconcile to learn more"
_NOT_FOR_CHANGES = frozenset({"duplicate_guard", "max_submit_rate"})


class ExecutionGate:
    """Decide, audit, then (only if approved) send."""

    def __init__(
        self,
        *,
        broker: Broker,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
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
        # A change to a working order is judged as the order would stand after it; the
        # duplicate guard (its id is known) and the submit rate (nothing new is placed) do not
        # apply to it.
        self._change_gate = attrs.evolve(
            self._gate, rules=tuple(r for r in self._gate.rules if r.name not in _NOT_FOR_CHANGES)
        )
        self.mode = mode
        self._timeout = timeout

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
        # After the fact: the publisher buffers and never fails, delays or blocks the order.
        for order, decision in zip(orders, decisions, strict=True):
            await self._publisher.publish(
                RiskDecisionMade(decision, now, now, order.request.correlation_id)
            )
        return results

    async def _append_before_send(self, records: list[AuditRecord]) -> list[AuditEntry]:
        """Make `records` durable, in order, before anything is sent (one fsync when possible)."""
        if len(records) == 1:
            return [await self._audit.append(records[0])]
        return await self._audit.append_many(records)

    def _fail_all(self, orders: list[Order], exc: Exception) -> list[OrderResult]:
        ts = self._clock.now()
        reason = f"audit log failed ({type(exc).__name__}: {exc}); nothing was sent"
        for order in orders:
            if not order.status.is_terminal:
                order.apply(
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
            order.apply(
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
            order.apply(
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
            await asyncio.shield(self._record_result(orders, (), "INTERRUPTED", _INTERRUPTED))
            raise
        except Exception as exc:  # an adapter bug: the outcome is unknown, say so and go on
            status = OrderResultStatus.FAILED
            reason = f"broker call failed ({type(exc).__name__}: {exc}); reconcile to learn more"
        done = await self._record_result(orders, ids, status.value if status else "SENT", reason)
        for order, broker_id in zip(orders, ids, strict=False):
            if order.broker_order_id is None:
                order.broker_order_id = broker_id
        return [
            OrderResult.from_order(order, done, self.mode, decision=d, reason=reason, status=status)
            for order, d in zip(orders, decisions, strict=True)
        ]

    async def _record_result(
        self, orders: list[Order], ids: tuple[BrokerOrderId, ...], status: str, reason: str
    ) -> datetime:
        """The `broker.submit_result` that follows every `broker.submit` record."""
        done = self._clock.now()
        await self._audit.append(
            broker_call_record(
                "submit_result",
                done,
                orders[0].request.correlation_id,
                client_order_ids=[o.client_order_id.value for o in orders],
                broker_order_ids=[i.value for i in ids],
                status=status,
                reason=reason,
            )
        )
        return done

    def _reject(self, orders: list[Order], reason: str) -> None:
        ts = self._clock.now()
        for order in orders:
            if order.status.is_terminal:
                continue
            order.apply(
                OrderLifecycleEvent(
                    order.client_order_id,
                    OrderEventKind.REJECTED,
                    ts,
                    ts,
                    reason=reason,
                    correlation_id=order.request.correlation_id,
                )
            )

    # -- changes to working orders ---------------------------------------------------------
    async def modify(self, order: Order, change: OrderChange) -> OrderResult:
        """Gate a change of a working order like a new order, make the decision (and the
        `broker.modify` record) durable, then ask the broker; any state gets a result.

        The order is judged as it would stand after the change (its working remainder, with
        the new prices) against the book without it: price collar, increment, notional and
        exposure rules apply to the new terms. A change that only lowers the quantity cannot add
        risk and is approved as reducing. `InvalidValue` for a change that does not fit.
        """
        now = self._clock.now()
        busy = _why_not_modifiable(order)
        if busy:
            return OrderResult.from_order(
                order, now, self.mode, status=OrderResultStatus.UNCHANGED, reason=busy
            )
        after = change.applied_to(order)
        decision = self._decide_change(order, change, after, now)
        fields = {k: str(v) for k, v in change.fields().items()}
        records = [change_decision_record("modify", after, decision, fields)]
        correlation = order.request.correlation_id
        send = decision.approved and self.mode is not ExecutionMode.DRY_RUN
        if send:
            records.append(
                broker_call_record(
                    "modify",
                    now,
                    correlation,
                    client_order_id=order.client_order_id.value,
                    **fields,
                )
            )
        try:
            await self._append_before_send(records)
        except Exception as exc:  # nothing is sent without its durable decision
            reason = f"audit log failed ({type(exc).__name__}: {exc}); nothing was sent"
            return OrderResult.from_order(
                order, now, self.mode, status=OrderResultStatus.FAILED, reason=reason
            )
        await self._publisher.publish(RiskDecisionMade(decision, now, now, correlation))
        if not decision.approved:
            return OrderResult.from_order(
                order,
                now,
                self.mode,
                decision=decision,
                reason=decision.explain(),
                status=OrderResultStatus.DENIED,
            )
        if not send:
            return OrderResult.from_order(
                order, now, self.mode, decision=decision, status=OrderResultStatus.SIMULATED
            )
        self._apply(order, OrderEventKind.PENDING_UPDATE, now)
        status, reason = await self._call(
            "modify",
            order.client_order_id,
            correlation,
            lambda: self.__broker.modify(
                order.client_order_id, timeout=self._timeout, **change.fields()
            ),
        )
        if status is not None and order.status is OrderStatus.PENDING_UPDATE:
            self._apply(order, OrderEventKind.MODIFY_REJECTED, now, reason)
        return OrderResult.from_order(
            order, self._clock.now(), self.mode, decision=decision, reason=reason, status=status
        )

    def _decide_change(
        self, order: Order, change: OrderChange, after: OrderRequest, now: datetime
    ) -> RiskDecision:
        if change.reduces_only(order):
            return RiskDecision(
                order.client_order_id,
                True,
                now,
                inputs=(("action", "modify"), ("change", "quantity lowered only")),
                correlation_id=order.request.correlation_id,
                reducing=True,
            )
        remainder = attrs.evolve(after, quantity=after.quantity - order.filled_qty)
        ctx = self._desk.risk_context(remainder, now, replacing=order.client_order_id)
        ctx.note("action", "modify")
        return self._change_gate.evaluate(remainder, ctx)

    async def cancel(
        self,
        client_order_id: ClientOrderId,
        order: Order | None,
        correlation: CorrelationId | None = None,
    ) -> OrderResult:
        """Cancel a working order through the gate: the (always approving, reducing) decision
        and the `broker.cancel` record are durable before the broker is asked. `order` is
        None for an order this session does not hold (the broker's open orders)."""
        now = self._clock.now()
        if order is not None and order.status.is_terminal:
            return OrderResult.from_order(order, now, self.mode, reason="already final")
        if order is not None and order.status is OrderStatus.PENDING_CANCEL:
            return OrderResult.from_order(
                order, now, self.mode, reason="a cancel is already pending"
            )
        if order is not None:
            correlation = order.request.correlation_id
        decision = RiskDecision(
            client_order_id,
            True,
            now,
            inputs=(("action", "cancel"),),
            correlation_id=correlation,
            reducing=True,
        )
        records = [
            change_decision_record("cancel", None if order is None else order.request, decision, {})
        ]
        send = self.mode is not ExecutionMode.DRY_RUN
        if send:
            records.append(
                broker_call_record(
                    "cancel", now, correlation, client_order_id=client_order_id.value
                )
            )
        try:
            await self._append_before_send(records)
        except Exception as exc:
            reason = f"audit log failed ({type(exc).__name__}: {exc}); nothing was sent"
            return self._change_result(
                client_order_id,
                order,
                correlation,
                ts=now,
                status=OrderResultStatus.FAILED,
                reason=reason,
            )
        await self._publisher.publish(RiskDecisionMade(decision, now, now, correlation))
        if not send:
            return self._change_result(
                client_order_id,
                order,
                correlation,
                ts=now,
                status=OrderResultStatus.SIMULATED,
                reason="",
            )
        if order is not None:
            self._apply(order, OrderEventKind.PENDING_CANCEL, now)
        status, reason = await self._call(
            "cancel",
            client_order_id,
            correlation,
            lambda: self.__broker.cancel(client_order_id, timeout=self._timeout),
        )
        if order is not None and status is not None and order.status is OrderStatus.PENDING_CANCEL:
            self._apply(order, OrderEventKind.CANCEL_REJECTED, now, reason)
        if order is None and status is None:
            status = OrderResultStatus.CANCELED
        return self._change_result(
            client_order_id, order, correlation, ts=self._clock.now(), status=status, reason=reason
        )

    def _change_result(
        self,
        client_order_id: ClientOrderId,
        order: Order | None,
        correlation: CorrelationId | None,
        *,
        ts: datetime,
        status: OrderResultStatus | None,
        reason: str,
    ) -> OrderResult:
        if order is not None:
            return OrderResult.from_order(order, ts, self.mode, reason=reason, status=status)
        return OrderResult(
            client_order_id,
            status or OrderResultStatus.SUBMITTED,
            ts,
            self.mode,
            correlation,
            reason=reason,
        )

    async def _call(
        self,
        what: str,
        client_order_id: ClientOrderId,
        correlation: CorrelationId | None,
        call: Callable[[], Awaitable[Any]],
    ) -> tuple[OrderResultStatus | None, str]:
        """Make one broker call whose records are durable; its `broker.<what>_result` follows
        whatever happens (None: done)."""
        status: OrderResultStatus | None = None
        reason = ""
        try:
            await call()
        except BrokerTimeout as exc:
            status, reason = OrderResultStatus.TIMEOUT, str(exc)
        except BrokerRejected as exc:
            status, reason = OrderResultStatus.REJECTED, str(exc)
        except BrokerError as exc:
            status, reason = OrderResultStatus.FAILED, str(exc)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._result_record(what, client_order_id, correlation, "INTERRUPTED", _INTERRUPTED)
            )
            raise
        except Exception as exc:  # an adapter bug: the outcome is unknown, say so
            status = OrderResultStatus.FAILED
            reason = f"broker call failed ({type(exc).__name__}: {exc}); reconcile to learn more"
        await self._result_record(
            what, client_order_id, correlation, status.value if status else "SENT", reason
        )
        return status, reason

    async def _result_record(
        self,
        what: str,
        client_order_id: ClientOrderId,
        correlation: CorrelationId | None,
        status: str,
        reason: str,
    ) -> None:
        await self._audit.append(
            broker_call_record(
                f"{what}_result",
                self._clock.now(),
                correlation,
                client_order_id=client_order_id.value,
                status=status,
                reason=reason,
            )
        )

    def _apply(self, order: Order, kind: OrderEventKind, ts: datetime, reason: str = "") -> None:
        order.apply(
            OrderLifecycleEvent(
                order.client_order_id,
                kind,
                ts,
                ts,
                reason=reason,
                correlation_id=order.request.correlation_id,
            )
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


def _why_not_modifiable(order: Order) -> str:
    """Why `order` cannot take a change now ("" when it can)."""
    if order.status.is_terminal:
        return f"order {order.client_order_id} is {order.status.value}: it cannot be modified"
    if order.status is OrderStatus.PENDING_CANCEL:
        return f"a cancel of {order.client_order_id} is pending: it cannot be modified"
    if order.status is OrderStatus.PENDING_UPDATE:
        return f"a change of {order.client_order_id} is pending: wait for the broker's answer"
    if order.status is OrderStatus.INITIALIZED:
        return f"order {order.client_order_id} was never sent: it cannot be modified"
    return ""
