"""The `AlertSink` port: where the gate's alerts go (a webhook, a pager, a test's list).

Contract: `send` never blocks, waits or raises — it hands the alert over (a queue) and returns
False when it had to drop one (its bound reached); delivery, retries and backoff happen off the
trading path. `close` delivers what it can within its own time limit and releases the transport.

An `Alert`'s JSON (`Alert.to_json()`, what the webhook POSTs; docs/observability.md):
`{"version": 1, "rule": ..., "severity": "critical"|"warning"|"info", "summary": ...,
"ts": ISO 8601 UTC, "operator_id": ..., "details": {...}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from ordergate.domain.values import utc_field

__all__ = ["ALERT_RULES", "Alert", "AlertSink"]

ALERT_RULES = (
    "breaker_tripped",
    "trading_state",
    "broker_rejection",
    "reconnects",
    "audit_failure",
    "publisher_outage",
    "divergence",
    "data_staleness",
)
"""Every rule an alert can fire on (see application/alerts.py for when each fires)."""


@attrs.frozen
class Alert:
    """One alert: which rule fired, how bad, a one-line summary and the facts behind it."""

    rule: str
    severity: str
    summary: str
    ts: datetime = utc_field()
    details: Mapping[str, Any] = attrs.field(factory=dict)
    operator_id: str = ""
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of this alert."""
        return {
            "version": self.version,
            "rule": self.rule,
            "severity": self.severity,
            "summary": self.summary,
            "ts": self.ts.isoformat(),
            "operator_id": self.operator_id,
            "details": dict(self.details),
        }


@runtime_checkable
class AlertSink(Protocol):
    """Takes alerts without ever blocking the caller."""

    def send(self, alert: Alert) -> bool:
        """Hand `alert` over; False when it was dropped (the sink's bound was reached)."""

    async def close(self) -> None:
        """Deliver what is queued (within the sink's own limit) and release the transport."""
