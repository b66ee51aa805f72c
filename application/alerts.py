"""`AlertMonitor`: the alert rules, fed by the gate's audit records; alerts go to an `AlertSink`.

The monitor is a `Metrics` observer (`ports/metrics.py`): the gate tells it of every durable
audit write, so an alert fires only for something the audit log holds. Rules (each can be
switched off in `[alerts]`, `AlertRules.enabled`):

- `breaker_tripped` (critical): `risk.breaker_tripped`, any breaker but data staleness;
- `data_staleness` (warning): `risk.breaker_tripped` of the `data_staleness` breaker;
- `trading_state` (warning; critical to HALTED): `risk.trading_state`;
- `broker_rejection` (warning): the broker rejected an order (`broker.submit_result` or
  `broker.order` REJECTED), once per order;
- `reconnects` (critical): `reconnects` restorations of the broker link within
  `reconnect_window` (record time); counting then starts again;
- `audit_failure` (critical): an audit write raised (not audited itself: the log is failing);
- `publisher_outage` (warning): `publisher.outage_started`;
- `divergence` (critical): `reconcile.diff` (the gate and the broker disagree).

Each alert is audited (`alert.raised`, its JSON) and handed to the sink, which never blocks.
The audit write runs as a task of its own, off the path that caused the alert; `close()`
waits for those writes and closes the sink.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import CorrelationId
from ordergate.ports.alert_sink import ALERT_RULES, Alert, AlertSink
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.clock import Clock

__all__ = ["AlertMonitor", "AlertRules"]

_REMEMBERED = 10_000
_log = logging.getLogger("ordergate.alerts")


def _rules(inst: object, attribute: attrs.Attribute[Any], value: frozenset[str]) -> None:
    unknown = sorted(set(value) - set(ALERT_RULES))
    if unknown:
        raise InvalidValue("AlertRules.enabled", unknown, f"must name rules of {ALERT_RULES}")


def _at_least_one(inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidValue(f"AlertRules.{attribute.name}", value, "must be an integer >= 1")


def _positive(inst: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidValue(f"AlertRules.{attribute.name}", value, "must be > 0")


def _rule_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class AlertRules:
    """Which rules fire and their thresholds."""

    enabled: frozenset[str] = attrs.field(
        default=frozenset(ALERT_RULES), converter=_rule_set, validator=_rules
    )
    reconnects: int = attrs.field(default=3, validator=_at_least_one)
    reconnect_window: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive)


class AlertMonitor:
    """Judges audit records against `rules`; raises alerts into `sink` and the audit log."""

    def __init__(
        self, rules: AlertRules, sink: AlertSink, clock: Clock, *, operator_id: str = ""
    ) -> None:
        self.rules = rules
        self._sink = sink
        self._clock = clock
        self._operator = operator_id
        self.audit: AuditLog | None = None
        """Where alerts are recorded (the gate sets its own audit log)."""
        self.raised: list[Alert] = []
        self._reconnects: deque[datetime] = deque()
        self._rejected: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers = {
            "risk.breaker_tripped": self._trip,
            "risk.trading_state": self._state,
            "broker.order": self._order,
            "broker.submit_result": self._submit_result,
            "broker.connection": self._connection,
            "publisher.outage_started": self._outage,
            "reconcile.diff": self._diff,
        }

    # -- the Metrics port (only audit writes matter here) --------------------------------------
    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        handlers = self._handlers
        for record in records:
            handler = handlers.get(record.kind)
            if handler is not None:
                handler(record)

    def audit_failed(self, error: str) -> None:
        self._raise("audit_failure", "critical", f"audit write failed: {error}", {"error": error})

    def signal_handled(self, outcome: str, seconds: float) -> None:
        """Nothing: signals are not alerted on."""

    def event_lag(self, seconds: float) -> None:
        """Nothing."""

    # -- rules -----------------------------------------------------------------------------------
    def _trip(self, record: AuditRecord) -> None:
        p = record.payload
        breaker = str(p.get("breaker"))
        rule = "data_staleness" if breaker == "data_staleness" else "breaker_tripped"
        severity = "warning" if rule == "data_staleness" else "critical"
        self._raise(
            rule, severity, f"breaker {breaker} tripped: {p.get('reason', '')}", dict(p), record
        )

    def _state(self, record: AuditRecord) -> None:
        p = record.payload
        state = str(p.get("state"))
        severity = "critical" if state == "HALTED" else "warning"
        summary = f"trading {p.get('previous')} -> {state}: {p.get('reason', '')}"
        self._raise("trading_state", severity, summary, dict(p), record)

    def _rejection(self, cid: str, reason: str, record: AuditRecord) -> None:
        if cid in self._rejected:
            return
        self._rejected[cid] = None
        if len(self._rejected) > _REMEMBERED:
            self._rejected.popitem(last=False)
        details = {"client_order_id": cid, "reason": reason}
        self._raise(
            "broker_rejection", "warning", f"broker rejected {cid}: {reason}", details, record
        )

    def _order(self, record: AuditRecord) -> None:
        p = record.payload
        if p.get("kind") == "REJECTED":
            self._rejection(str(p.get("client_order_id")), str(p.get("reason", "")), record)

    def _submit_result(self, record: AuditRecord) -> None:
        p = record.payload
        if p.get("status") == "REJECTED":
            for cid in p.get("client_order_ids", ()):
                self._rejection(str(cid), str(p.get("reason", "")), record)

    def _connection(self, record: AuditRecord) -> None:
        p = record.payload
        if p.get("state") != "CONNECTED" or p.get("previous") == "CONNECTED":
            return
        window = self._reconnects
        window.append(record.ts)
        while window and record.ts - window[0] > self.rules.reconnect_window:
            window.popleft()
        if len(window) >= self.rules.reconnects:
            seconds = self.rules.reconnect_window.total_seconds()
            details = {
                "reconnects": len(window),
                "window_seconds": f"{seconds:g}",
                "first": window[0].isoformat(),
                "last": window[-1].isoformat(),
            }
            window.clear()
            self._raise(
                "reconnects",
                "critical",
                f"{details['reconnects']} broker reconnects within {seconds:g} s",
                details,
                record,
            )

    def _outage(self, record: AuditRecord) -> None:
        p = record.payload
        self._raise(
            "publisher_outage",
            "warning",
            f"publisher outage: {p.get('error', '')}",
            dict(p),
            record,
        )

    def _diff(self, record: AuditRecord) -> None:
        p = record.payload
        self._raise(
            "divergence",
            "critical",
            f"divergence {p.get('kind')} {p.get('key')}: "
            f"ours {p.get('ours')}, broker {p.get('broker')}",
            dict(p),
            record,
        )

    # -- raising -------------------------------------------------------------------------------
    def _raise(
        self,
        rule: str,
        severity: str,
        summary: str,
        details: Mapping[str, Any],
        record: AuditRecord | None = None,
    ) -> None:
        if rule not in self.rules.enabled:
            return
        alert = Alert(
            rule,
            severity,
            summary,
            self._clock.now(),
            details,
            operator_id=self._operator,
        )
        self.raised.append(alert)
        if len(self.raised) > _REMEMBERED:
            del self.raised[0]
        delivered = self._sink.send(alert)
        if self.audit is not None and rule != "audit_failure":
            payload = {**alert.to_json(), "queued": delivered}
            correlation = record.correlation_id if record is not None else None
            try:
                task = asyncio.get_running_loop().create_task(
                    self._record(alert, payload, correlation)
                )
            except RuntimeError:  # no loop: nothing to record on
                return
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _record(
        self, alert: Alert, payload: dict[str, Any], correlation: CorrelationId | None
    ) -> None:
        assert self.audit is not None
        try:
            await self.audit.append(AuditRecord("alert.raised", alert.ts, payload, correlation))
        except Exception:  # a failing audit log is alerted on by itself
            _log.exception("alert %s could not be audited", alert.rule)

    async def close(self) -> None:
        """Wait for the alerts' audit writes, then close the sink."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._sink.close()
