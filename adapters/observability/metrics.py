"""`PrometheusMetrics`: the `Metrics` port on `prometheus_client`, with a registry of its own.

Counters are derived from the audit records the gate writes (`audit_appended`), so they equal
what the audit log holds for the session. Gauges are read from the gate at scrape time by a
collector (`watch(gate)`): they cost the trading path nothing. Histograms take the latencies
the gate reports. Embedders mount `registry` in their own app (`prometheus_client.make_asgi_app
(registry=...)`, `generate_latest(registry)`); `ordergate serve` serves it at `/metrics`.

Every name starts with `ordergate_`; counters end in `_total`, durations in `_seconds`
(docs/observability.md lists them all).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import ConnectionState
from ordergate.domain.risk.decision import BreakerState, TradingState
from ordergate.ports.metrics import SIGNAL_OUTCOMES

if TYPE_CHECKING:
    from ordergate.application.facade import OrderGate

__all__ = ["PrometheusMetrics", "rejection_code"]

_CODE = re.compile(r"\[(\d+)\]")
_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_PENDING_ACKS = 10_000  # submitted orders awaiting their broker answer, at most


def rejection_code(reason: str) -> str:
    """The broker's code in a rejection text (`[201] ...` → "201"), or "none"."""
    match = _CODE.search(reason)
    return match.group(1) if match else "none"


class PrometheusMetrics:
    """Records the gate's measurements into `registry` (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._signals = Counter(
            "ordergate_signals", "Signal deliveries by outcome", ["outcome"], registry=r
        )
        self._signal_children = {o: self._signals.labels(o) for o in SIGNAL_OUTCOMES}
        self._decisions = Counter(
            "ordergate_decisions",
            "Risk decisions on orders (new orders and changes) by outcome",
            ["outcome"],
            registry=r,
        )
        self._approved = self._decisions.labels("approved")
        self._denied = self._decisions.labels("denied")
        self._denials = Counter(
            "ordergate_denials", "Risk denials by reason code", ["reason"], registry=r
        )
        self._rejections = Counter(
            "ordergate_broker_rejections",
            "Orders the broker rejected, by code",
            ["code"],
            registry=r,
        )
        self._fills = Counter("ordergate_fills", "Executions applied", registry=r)
        self._commissions = Counter(
            "ordergate_commissions", "Commissions charged (account currency)", registry=r
        )
        self._reconnects = Counter(
            "ordergate_reconnects", "Broker links restored after a loss", registry=r
        )
        self._publisher_failures = Counter(
            "ordergate_publisher_failures", "Publisher outages begun", registry=r
        )
        self._appends = Counter("ordergate_audit_appends", "Audit records appended", registry=r)
        self._audit_failures = Counter(
            "ordergate_audit_failures", "Audit writes that raised", registry=r
        )
        self._trips = Counter(
            "ordergate_breaker_trips", "Circuit breaker trips by breaker", ["breaker"], registry=r
        )
        self._state_changes = Counter(
            "ordergate_trading_state_changes",
            "Trading state changes by new state",
            ["state"],
            registry=r,
        )
        self._divergences = Counter(
            "ordergate_divergences",
            "Differences found between the gate and the broker",
            registry=r,
        )
        self._signal_latency = Histogram(
            "ordergate_signal_to_submit_seconds",
            "From taking a signal delivery to its audited outcome (the broker call included)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._audit_latency = Histogram(
            "ordergate_audit_append_seconds",
            "Durable audit write latency",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._ack_latency = Histogram(
            "ordergate_broker_ack_seconds",
            "From the broker.submit record to the broker's first answer (accepted or rejected)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._lag = Histogram(
            "ordergate_event_pump_lag_seconds",
            "From a broker event's creation to its recording by the event pump",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._pending: OrderedDict[str, float] = OrderedDict()
        self._rejected: OrderedDict[str, None] = OrderedDict()
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "risk.decision": self._decision,
            "broker.fill": self._fill,
            "broker.fill_recovered": self._fill,
            "broker.commission": self._commission,
            "broker.order": self._order,
            "broker.submit": self._submit,
            "broker.submit_result": self._submit_result,
            "broker.connection": self._connection,
            "publisher.outage_started": self._publisher_outage,
            "risk.breaker_tripped": self._trip,
            "risk.trading_state": self._state,
            "reconcile.diff": self._diff,
        }
        self._collector: _GateCollector | None = None
        self._denial_children: dict[object, Any] = {}

    # -- the Metrics port ---------------------------------------------------------------------
    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        self._audit_latency.observe(seconds)
        self._appends.inc(len(records))
        handlers = self._handlers
        for record in records:
            handler = handlers.get(record.kind)
            if handler is not None:
                handler(record.payload)

    def audit_failed(self, error: str) -> None:
        self._audit_failures.inc()

    def signal_handled(self, outcome: str, seconds: float) -> None:
        self._signal_children[outcome].inc()
        self._signal_latency.observe(seconds)

    def event_lag(self, seconds: float) -> None:
        self._lag.observe(max(seconds, 0.0))

    # -- gauges ---------------------------------------------------------------------------------
    def watch(self, gate: OrderGate) -> None:
        """Read `gate`'s state (trading, breakers, connection, orders, positions, PnL) at every
        scrape. One gate per registry: a second call replaces the first."""
        if self._collector is not None:
            self.registry.unregister(self._collector)
        self._collector = _GateCollector(gate)
        self.registry.register(self._collector)

    # -- record handlers -----------------------------------------------------------------------
    def _decision(self, payload: Mapping[str, Any]) -> None:
        if payload.get("approved"):
            self._approved.inc()
            return
        self._denied.inc()
        children = self._denial_children
        for denial in payload.get("denials", ()):
            code = denial.get("code")
            child = children.get(code)
            if child is None:
                child = children[code] = self._denials.labels(str(code))
            child.inc()

    def _fill(self, payload: Mapping[str, Any]) -> None:
        self._fills.inc()
        commission = payload.get("commission")
        if commission:
            self._commissions.inc(float(commission))

    def _commission(self, payload: Mapping[str, Any]) -> None:
        commission = payload.get("commission")
        if commission:
            self._commissions.inc(float(commission))

    def _submit(self, payload: Mapping[str, Any]) -> None:
        now = time.perf_counter()
        pending = self._pending
        for cid in payload.get("client_order_ids", ()):
            pending[cid] = now
        while len(pending) > _PENDING_ACKS:
            pending.popitem(last=False)

    def _answered(self, cid: str) -> None:
        started = self._pending.pop(cid, None)
        if started is not None:
            self._ack_latency.observe(time.perf_counter() - started)

    def _reject(self, cid: str, reason: str) -> None:
        if cid in self._rejected:
            return  # the submit call and the broker's event told of the same rejection
        self._rejected[cid] = None
        if len(self._rejected) > _PENDING_ACKS:
            self._rejected.popitem(last=False)
        self._rejections.labels(rejection_code(reason)).inc()

    def _submit_result(self, payload: Mapping[str, Any]) -> None:
        if payload.get("status") != "REJECTED":
            return
        for cid in payload.get("client_order_ids", ()):
            self._answered(cid)
            self._reject(cid, str(payload.get("reason", "")))

    def _order(self, payload: Mapping[str, Any]) -> None:
        kind = payload.get("kind")
        if kind == "ACCEPTED":
            self._answered(payload["client_order_id"])
        elif kind == "REJECTED":
            cid = payload["client_order_id"]
            self._answered(cid)
            self._reject(cid, str(payload.get("reason", "")))

    def _connection(self, payload: Mapping[str, Any]) -> None:
        if (
            payload.get("state") == ConnectionState.CONNECTED.value
            and payload.get("previous") != ConnectionState.CONNECTED.value
        ):
            self._reconnects.inc()

    def _publisher_outage(self, payload: Mapping[str, Any]) -> None:
        self._publisher_failures.inc()

    def _trip(self, payload: Mapping[str, Any]) -> None:
        self._trips.labels(str(payload.get("breaker"))).inc()

    def _state(self, payload: Mapping[str, Any]) -> None:
        self._state_changes.labels(str(payload.get("state"))).inc()

    def _diff(self, payload: Mapping[str, Any]) -> None:
        self._divergences.inc()


class _GateCollector(Collector):
    """The gauges, read from the gate when the registry is scraped."""

    def __init__(self, gate: OrderGate) -> None:
        self._gate = gate

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        gate = self._gate
        state = gate.trading_state
        trading = GaugeMetricFamily(
            "ordergate_trading_state", "1 for the current trading state", labels=["state"]
        )
        for t in TradingState:
            trading.add_metric([t.value], 1.0 if t is state else 0.0)
        yield trading
        yield GaugeMetricFamily(
            "ordergate_kill_switch_engaged",
            "1 while the kill switch holds",
            value=1.0 if gate.kill_switch_engaged else 0.0,
        )
        breakers = GaugeMetricFamily(
            "ordergate_breaker_state",
            "1 for each breaker's current state",
            labels=["breaker", "state"],
        )
        for name, current in sorted(gate.breaker_states().items()):
            for b in BreakerState:
                breakers.add_metric([name, b.value], 1.0 if b is current else 0.0)
        yield breakers
        link = gate.connection_state
        connection = GaugeMetricFamily(
            "ordergate_connection_state",
            "1 for the broker link's current state",
            labels=["state"],
        )
        for c in ConnectionState:
            connection.add_metric([c.value], 1.0 if c is link else 0.0)
        yield connection
        portfolio = gate.portfolio
        yield GaugeMetricFamily(
            "ordergate_open_orders",
            "Working orders",
            value=sum(1 for _ in portfolio.working_orders()),
        )
        positions = list(portfolio.open_positions())
        yield GaugeMetricFamily("ordergate_positions", "Open positions", value=len(positions))
        quantity = GaugeMetricFamily(
            "ordergate_position_quantity", "Signed quantity per instrument", labels=["instrument"]
        )
        for p in positions:
            quantity.add_metric([p.instrument_id.value], float(p.quantity))
        yield quantity
        yield GaugeMetricFamily(
            "ordergate_equity", "Account equity", value=float(portfolio.equity())
        )
        yield GaugeMetricFamily(
            "ordergate_realized_pnl", "Realized PnL", value=float(portfolio.realized_pnl())
        )
        yield GaugeMetricFamily(
            "ordergate_unrealized_pnl",
            "Unrealized PnL at the marks",
            value=float(portfolio.unrealized_pnl()),
        )
        age = gate.oldest_unapplied_event_age()
        yield GaugeMetricFamily(
            "ordergate_oldest_unapplied_event_age_seconds",
            "Age of the oldest broker event read but not yet applied (0: none waiting)",
            value=0.0 if age is None else max(age.total_seconds(), 0.0),
        )
        terminal = CounterMetricFamily(
            "ordergate_orders",
            "Orders of this session that reached a terminal status",
            labels=["status"],
        )
        counts: dict[str, int] = {}
        for order in portfolio.orders.values():
            if order.status.is_terminal:
                counts[order.status.value] = counts.get(order.status.value, 0) + 1
        for status, n in sorted(counts.items()):
            terminal.add_metric([status], float(n))
        yield terminal
