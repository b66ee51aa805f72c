"""`SessionSummary` counts what `ordergate run` reports: denials (not sent) and broker
rejections (sent, refused) apart."""

from __future__ import annotations

from datetime import UTC, datetime

from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
from ordergate.application.session import SessionSummary
from ordergate.domain.values import ClientOrderId

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)


def result(n: int, status: OrderResultStatus) -> OrderResult:
    return OrderResult(ClientOrderId(f"S{n}-E"), status, T0, ExecutionMode.PAPER)


def test_broker_rejections_are_counted_apart_from_risk_denials() -> None:
    summary = SessionSummary(
        results=[
            result(1, OrderResultStatus.DENIED),
            result(2, OrderResultStatus.REJECTED),
            result(3, OrderResultStatus.FILLED),
            result(4, OrderResultStatus.REJECTED),
        ],
        closures=[result(5, OrderResultStatus.REJECTED)],
    )
    assert ["S1-E"] == [str(r.client_order_id) for r in summary.denials]
    assert ["S2-E", "S4-E", "S5-E"] == [str(r.client_order_id) for r in summary.rejections]
