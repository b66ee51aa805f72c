"""Builders of audit records: one function per thing the application records.

Payloads are JSON-ready (Decimals and datetimes as strings) so a record reads back exactly.
Secrets never enter a payload: only ids, quantities, prices, reasons and codes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import (
    BreakerReset,
    BreakerTripped,
    ConnectionStateChanged,
    FillRecovered,
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
    ReconciliationDiff,
    TradingStateChanged,
    UnapprovedOrderRefused,
)
from ordergate.domain.orders.events import CommissionReport, ExecutionFill, OrderLifecycleEvent
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import RiskDecision
from ordergate.domain.values import CorrelationId

__all__ = [
    "broker_call_record",
    "broker_event_record",
    "change_decision_record",
    "decision_record",
    "settlement_record",
    "system_record",
]


def _s(value: Decimal | datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def request_payload(request: OrderRequest) -> dict[str, Any]:
    """The fields of an order request worth keeping."""
    return {
        "client_order_id": request.client_order_id.value,
        "instrument": request.instrument.id.value,
        "side": request.side.value,
        "quantity": _s(request.quantity),
        "order_type": request.order_type.value,
        "limit_price": _s(request.limit_price),
        "stop_price": _s(request.stop_price),
        "trail_amount": _s(request.trail_amount),
        "trail_percent": _s(request.trail_percent),
        "time_in_force": request.time_in_force.value,
        "intent": request.intent.value,
        "closure_reason": request.closure_reason.value if request.closure_reason else None,
        "signal_id": request.signal_id.value if request.signal_id else None,
        "parent_id": request.parent_id.value if request.parent_id else None,
        "oca_group": request.oca_group,
        "operator_id": request.operator_id,
    }


def change_decision_record(
    action: str, request: OrderRequest | None, decision: RiskDecision, change: dict[str, Any]
) -> AuditRecord:
    """The gate's decision on a modification or cancellation of a working order (`action`
    "modify" or "cancel"): a `risk.decision` whose request is the order as it would stand
    (None for the cancel of an order this session does not know, e.g. placed by another)."""
    if request is not None:
        record = decision_record(request, decision)
        payload = {**record.payload, "action": action, "change": change}
        return AuditRecord(record.kind, record.ts, payload, record.correlation_id)
    payload = {
        "approved": decision.approved,
        "reducing": decision.reducing,
        "denials": [],
        "inputs": dict(decision.inputs),
        "request": {"client_order_id": decision.client_order_id.value},
        "action": action,
        "change": change,
    }
    return AuditRecord("risk.decision", decision.ts, payload, decision.correlation_id)


def decision_record(request: OrderRequest, decision: RiskDecision) -> AuditRecord:
    """The gate's decision, with the request and every input the rules looked at."""
    return AuditRecord(
        kind="risk.decision",
        ts=decision.ts,
        correlation_id=request.correlation_id,
        payload={
            "approved": decision.approved,
            "reducing": decision.reducing,
            "denials": [
                {"code": d.code.value, "message": d.message, "limit": d.limit, "value": d.value}
                for d in decision.denials
            ],
            "inputs": dict(decision.inputs),
            "request": request_payload(request),
        },
    )


def broker_call_record(
    call: str,
    ts: datetime,
    correlation_id: CorrelationId | None,
    **fields: str | int | bool | list[Any] | dict[str, Any] | None,
) -> AuditRecord:
    """A call made to the broker (submit, modify, cancel, qualify) and its outcome."""
    return AuditRecord(kind=f"broker.{call}", ts=ts, correlation_id=correlation_id, payload=fields)


def broker_event_record(
    event: OrderLifecycleEvent | ExecutionFill | CommissionReport | OptionSettlement,
    ts: datetime,
) -> AuditRecord:
    """An event the broker reported."""
    if isinstance(event, OptionExercised | OptionAssigned | OptionExpired):
        return settlement_record(event, ts)
    if isinstance(event, ExecutionFill):
        payload: dict[str, Any] = {
            "client_order_id": event.client_order_id.value,
            "execution_id": event.execution_id.value,
            "instrument": event.instrument_id.value,
            "side": event.side.value,
            "quantity": _s(event.quantity),
            "price": _s(event.price),
            "commission": _s(event.commission),
            "ts_event": _s(event.ts_event),
        }
        return AuditRecord("broker.fill", ts, payload, event.correlation_id)
    if isinstance(event, CommissionReport):
        payload = {
            "execution_id": event.execution_id.value,
            "commission": _s(event.commission),
            "currency": event.currency,
        }
        return AuditRecord("broker.commission", ts, payload, event.correlation_id)
    payload = {
        "client_order_id": event.client_order_id.value,
        "kind": event.kind.value,
        "broker_order_id": event.broker_order_id.value if event.broker_order_id else None,
        "reason": event.reason,
        "quantity": _s(event.quantity),
        "limit_price": _s(event.limit_price),
        "stop_price": _s(event.stop_price),
        "ts_event": _s(event.ts_event),
    }
    return AuditRecord("broker.order", ts, payload, event.correlation_id)


_SETTLEMENT_KINDS = {
    OptionExercised: "broker.option_exercised",
    OptionAssigned: "broker.option_assigned",
    OptionExpired: "broker.option_expired",
}


def settlement_record(event: OptionSettlement, ts: datetime) -> AuditRecord:
    """An option position settled at expiry (exercised, assigned or expired)."""
    payload: dict[str, Any] = {
        "settlement_id": event.settlement_id,
        "instrument": event.option.id.value,
        "quantity": _s(event.quantity),
        "strike": _s(event.option.strike),
        "underlying_price": _s(event.underlying_price),
        "ts_event": _s(event.ts_event),
    }
    if not isinstance(event, OptionExpired):
        payload["underlying"] = event.underlying.id.value
        payload["shares"] = _s(event.shares)
    return AuditRecord(_SETTLEMENT_KINDS[type(event)], ts, payload, event.correlation_id)


SystemEvent = (
    BreakerTripped
    | BreakerReset
    | TradingStateChanged
    | ConnectionStateChanged
    | ReconciliationDiff
    | FillRecovered
    | UnapprovedOrderRefused
)


def system_record(event: SystemEvent, ts: datetime) -> AuditRecord:
    """Breakers, trading state, connectivity, reconciliation and recovered fills."""
    if isinstance(event, BreakerTripped):
        payload: dict[str, Any] = {
            "breaker": event.breaker,
            "reason": event.reason,
            "previous": event.previous.value,
        }
        return AuditRecord("risk.breaker_tripped", ts, payload, event.correlation_id)
    if isinstance(event, BreakerReset):
        payload = {
            "breaker": event.breaker,
            "state": event.state.value,
            "previous": event.previous.value,
        }
        return AuditRecord("risk.breaker_reset", ts, payload, event.correlation_id)
    if isinstance(event, TradingStateChanged):
        payload = {
            "state": event.state.value,
            "previous": event.previous.value,
            "reason": event.reason,
            "code": event.code,
        }
        return AuditRecord("risk.trading_state", ts, payload, event.correlation_id)
    if isinstance(event, ConnectionStateChanged):
        payload = {
            "state": event.state.value,
            "previous": event.previous.value,
            "detail": event.detail,
            "code": event.code,
        }
        return AuditRecord("broker.connection", ts, payload, event.correlation_id)
    if isinstance(event, ReconciliationDiff):
        payload = {
            "kind": event.kind,
            "key": event.key,
            "ours": event.ours,
            "broker": event.broker,
            "cause": event.cause,
        }
        return AuditRecord("reconcile.diff", ts, payload, event.correlation_id)
    if isinstance(event, UnapprovedOrderRefused):
        payload = {
            "client_order_id": event.client_order_id,
            "reason": event.reason,
            "ts_event": _s(event.ts_event),
        }
        return AuditRecord("broker.unapproved_order", ts, payload, event.correlation_id)
    fill = broker_event_record(event.fill, ts)
    return AuditRecord("broker.fill_recovered", ts, dict(fill.payload), event.correlation_id)
