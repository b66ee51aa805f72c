"""`OrderChanges`: modify and cancel a working order through the risk gate, like a submit.

A modification is decided on the order as it would stand after it (its working remainder with
the new terms, against the exposure book without it): the price collar, price increment,
notional, quantity and exposure rules apply to the new terms. A change that only lowers the
quantity cannot add risk and is approved as reducing. A cancel is always approved (it removes
working exposure) but decided and recorded all the same. Either way the decision — and, when
something is to be sent, the `broker.modify` / `broker.cancel` record — is durable (one write)
before the broker is asked, and `broker.modify_result` / `broker.cancel_result` follows whatever
happens. Every order state gets a typed `OrderResult`.

This object is built and held privately by the `ExecutionGate`; it calls the broker's `modify`
and `cancel` only, and must never be handed out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import attrs

from ordergate.application.audit_records import broker_call_record, change_decision_record
from ordergate.application.desk import TradingDesk
from ordergate.application.logs import log_order_event
from ordergate.application.publishing import BufferedPublisher
from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.domain.audit import AuditEntry, AuditRecord
from ordergate.domain.errors import BrokerError, BrokerRejected, BrokerTimeout
from ordergate.domain.events import RiskDecisionMade
from ordergate.domain.orders.change import OrderChange
from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.orders.order import Order
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import RiskDecision
from ordergate.domain.risk.gate import RiskGate
from ordergate.domain.values import ClientOrderId, CorrelationId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock

__all__ = ["OrderChanges"]

_INTERRUPTED = "the caller was cancelled before the broker answered; reconcile to learn more"


class OrderChanges:
    """Gated modify and cancel (see the module docstring)."""

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
        gate: RiskGate,
    ) -> None:
        self.__broker = broker  # its modify and cancel only
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._desk = desk
        self.mode = mode
        self._timeout = timeout
        self._gate = gate

    async def _append_before_send(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        if len(records) == 1:
            return [await self._audit.append(records[0])]
        return await self._audit.append_many(records)

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
        return self._gate.evaluate(remainder, ctx)

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
        event = OrderLifecycleEvent(
            order.client_order_id,
            kind,
            ts,
            ts,
            reason=reason,
            correlation_id=order.request.correlation_id,
        )
        order.apply(event)
        log_order_event(event)


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
