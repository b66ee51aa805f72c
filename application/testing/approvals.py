"""Test-only approvals for adapter tests and the broker contract suites.

`mint_approval_for_tests` makes an `ApprovedOrder` a broker adapter will accept *without* the
risk gate and without an audited decision. It exists so a contract suite can drive an adapter
directly. Never use it in application code: the only production source of approvals is the
`ExecutionGate`, after the order's decision is durable (`ordergate.ports.approvals`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import ApprovedOrder, RiskDecision
from ordergate.ports.approvals import APPROVALS

__all__ = ["mint_approval_for_tests"]


def mint_approval_for_tests(request: OrderRequest, ts: datetime | None = None) -> ApprovedOrder:
    """TEST SUPPORT ONLY: `request` approved (decision at `ts`, default now), issued for one
    send to any broker adapter, with nothing audited."""
    decision = RiskDecision(request.client_order_id, True, ts or datetime.now(UTC))
    return APPROVALS.issue_without_audit_for_tests(ApprovedOrder(request, decision))
