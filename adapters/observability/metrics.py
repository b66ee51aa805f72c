"""`PrometheusMetrics`: the `Metrics` port on `prometheus_client`, with a registry of its own.

Counters are derived from the audit records the gate writes (`audit_appended`), so they equal
what the audit log holds for the session. Recording only adds to plain numbers; the registry
builds the metric families from them when scraped. Gauges are read from the gate at scrape time by a
collector (`watch(gate)`): they cost the trading path nothing. Histograms take the latencies
the gate reports. Embedders mount `registry` in their own app (`prometheus_client.make_asgi_app
(registry=...)`, `generate_latest(registry)`); `ordergate serve` serves it at `/metrics`.

Every name starts with `ordergate_`; counters end in `_total`, durations in `_seconds`
(docs/observability.md lists them all).
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import ConnectionState
from ordergate.domain.risk.decision import BreakerState, TradingState
from ordergate.ports.metrics import SIGNAL_OUTCOMES

if TYPE_CHECKING:
    from ordergate.application.facade import OrderGate

__all__ = ["RECENT", "PrometheusMetrics", "prometheus_of", "rejection_code"]

RECENT = 50
"""How many recent fills and decisions the recorder keeps for the dashboard."""

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
_REMEMBERED_KINDS = frozenset({"risk.decision", "broker.fill"})


def prometheus_of(metrics: object) -> PrometheusMetrics | None:
    """The `PrometheusMetrics` a gate reports to (`gate.metrics`, alone or among a fan-out's
    targets), or None."""
    if isinstance(metrics, PrometheusMetrics):
        return metrics
    for target in getattr(metrics, "targets", ()):
        found = prometheus_of(target)
        if found is not None:
            return found
    return None


def rejection_code(reason: str) -> str:
    """The broker's code in a rejection text (`[201] ...` → "201"), or "none"."""
    match = _CODE.search(reason)
    return match.group(1) if match else "none"


class _Histogram:
    """Cumulative-bucket histogram on plain floats (exported at scrape by `_Families`)."""

    __slots__ = ("bounds", "counts", "help", "name", "sum")

    def __init__(self, name: str, help_text: str, bounds: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_text
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def family(self) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return HistogramMetricFamily(self.name, self.help, buckets=buckets, sum_value=self.sum)


class PrometheusMetrics:
    """Records the gate's measurements and exposes them in `registry` (a fresh one unless
    given).

    Recording touches plain numbers only (no lock, no label lookup): the gate calls it on one
    event loop, and the registry turns the numbers into metric families when it is scraped.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.signals: dict[str, int] = dict.fromkeys(SIGNAL_OUTCOMES, 0)
        self.decisions = {"approved": 0, "denied": 0}
        self.denials: dict[str, int] = {}
        self.rejections: dict[str, int] = {}
        self.trips: dict[str, int] = {}
        self.state_changes: dict[str, int] = {}
        self.fills = 0
        self.commissions = 0.0
        self.reconnects = 0
        self.publisher_failures = 0
        self.appends = 0
        self.audit_failures = 0
        self.divergences = 0
        self.parity = {"match": 0, "mismatch": 0}
        """Parity mode: signals the shadow gate decided alike / otherwise (`parity.comparison`)."""
        self.recent_mismatches: deque[dict[str, Any]] = deque(maxlen=RECENT)
        """The last `RECENT` parity mismatches (signal id and differences), newest last."""
        self._signal_latency = _Histogram(
            "ordergate_signal_to_submit_seconds",
            "From taking a signal delivery to its audited outcome (the broker call included)",
            _LATENCY_BUCKETS,
        )
        self._audit_latency = _Histogram(
            "ordergate_audit_append_seconds", "Durable audit write latency", _LATENCY_BUCKETS
        )
        self._ack_latency = _Histogram(
            "ordergate_broker_ack_seconds",
            "From the broker.submit record to the broker's first answer (accepted or rejected)",
            _LATENCY_BUCKETS,
        )
        self._lag = _Histogram(
            "ordergate_event_pump_lag_seconds",
            "From a broker event's creation to its recording by the event pump",
            _LATENCY_BUCKETS,
        )
        self.recent_fills: deque[dict[str, Any]] = deque(maxlen=RECENT)
        """The last `RECENT` fills, newest last (the dashboard shows them)."""
        self.recent_decisions: deque[dict[str, Any]] = deque(maxlen=RECENT)
        """The last `RECENT` risk decisions (approved or not, with the denial codes)."""
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
            "parity.comparison": self._parity,
        }
        self.registry.register(_Families(self))
        self._collector: _GateCollector | None = None

    # -- the Metrics port ---------------------------------------------------------------------
    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        self._audit_latency.observe(seconds)
        self.appends += len(records)
        handlers = self._handlers
        for record in records:
            handler = handlers.get(record.kind)
            if handler is not None:
                handler(record.payload)
                if record.kind in _REMEMBERED_KINDS:
                    self._remember(record)

    def _remember(self, record: AuditRecord) -> None:
        p = record.payload
        if record.kind == "broker.fill":
            self.recent_fills.append(
                {
                    "ts": record.ts.isoformat(),
                    "client_order_id": p.get("client_order_id"),
                    "instrument": p.get("instrument"),
                    "side": p.get("side"),
                    "quantity": p.get("quantity"),
                    "price": p.get("price"),
                }
            )
            return
        request = p.get("request") or {}
        self.recent_decisions.append(
            {
                "ts": record.ts.isoformat(),
                "client_order_id": request.get("client_order_id"),
                "instrument": request.get("instrument"),
                "side": request.get("side"),
                "quantity": request.get("quantity"),
                "signal_id": request.get("signal_id"),
                "approved": bool(p.get("approved")),
                "denials": [
                    {"code": d.get("code"), "message": d.get("message")}
                    for d in p.get("denials", ())
                ],
            }
        )

    def audit_failed(self, error: str) -> None:
        self.audit_failures += 1

    def signal_handled(self, outcome: str, seconds: float) -> None:
        self.signals[outcome] += 1
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

    def histograms(self) -> tuple[_Histogram, ...]:
        return (self._signal_latency, self._audit_latency, self._ack_latency, self._lag)

    # -- record handlers -----------------------------------------------------------------------
    def _decision(self, payload: Mapping[str, Any]) -> None:
        if payload.get("approved"):
            self.decisions["approved"] += 1
            return
        self.decisions["denied"] += 1
        denials = self.denials
        for denial in payload.get("denials", ()):
            code = str(denial.get("code"))
            denials[code] = denials.get(code, 0) + 1

    def _parity(self, payload: Mapping[str, Any]) -> None:
        if payload.get("match"):
            self.parity["match"] += 1
            return
        self.parity["mismatch"] += 1
        self.recent_mismatches.append(
            {
                "signal_id": payload.get("signal_id"),
                "differences": list(payload.get("differences", ())),
            }
        )

    def _fill(self, payload: Mapping[str, Any]) -> None:
        self.fills += 1
        commission = payload.get("commission")
        if commission:
            self.commissions += float(commission)

    def _commission(self, payload: Mapping[str, Any]) -> None:
        commission = payload.get("commission")
        if commission:
            self.commissions += float(commission)

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
        code = rejection_code(reason)
        self.rejections[code] = self.rejections.get(code, 0) + 1

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
            self.reconnects += 1

    def _publisher_outage(self, payload: Mapping[str, Any]) -> None:
        self.publisher_failures += 1

    def _trip(self, payload: Mapping[str, Any]) -> None:
        breaker = str(payload.get("breaker"))
        self.trips[breaker] = self.trips.get(breaker, 0) + 1

    def _state(self, payload: Mapping[str, Any]) -> None:
        state = str(payload.get("state"))
        self.state_changes[state] = self.state_changes.get(state, 0) + 1

    def _diff(self, payload: Mapping[str, Any]) -> None:
        self.divergences += 1


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def _labelled(
    name: str, help_text: str, label: str, values: Mapping[str, float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, help_text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


class _Families(Collector):
    """The recorder's counters and histograms as metric families, built at scrape time."""

    def __init__(self, recorder: PrometheusMetrics) -> None:
        self._m = recorder

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        m = self._m
        yield _labelled(
            "ordergate_signals", "Signal deliveries by outcome", "outcome", dict(m.signals)
        )
        yield _labelled(
            "ordergate_decisions",
            "Risk decisions on orders (new orders and changes) by outcome",
            "outcome",
            dict(m.decisions),
        )
        yield _labelled("ordergate_denials", "Risk denials by reason code", "reason", m.denials)
        yield _labelled(
            "ordergate_broker_rejections",
            "Orders the broker rejected, by code",
            "code",
            m.rejections,
        )
        yield _labelled(
            "ordergate_breaker_trips", "Circuit breaker trips by breaker", "breaker", m.trips
        )
        yield _labelled(
            "ordergate_trading_state_changes",
            "Trading state changes by new state",
            "state",
            m.state_changes,
        )
        yield _counter("ordergate_fills", "Executions applied", m.fills)
        yield _counter(
            "ordergate_commissions", "Commissions charged (account currency)", m.commissions
        )
        yield _counter("ordergate_reconnects", "Broker links restored after a loss", m.reconnects)
        yield _counter(
            "ordergate_publisher_failures", "Publisher outages begun", m.publisher_failures
        )
        yield _counter("ordergate_audit_appends", "Audit records appended", m.appends)
        yield _counter("ordergate_audit_failures", "Audit writes that raised", m.audit_failures)
        yield _counter(
            "ordergate_divergences",
            "Differences found between the gate and the broker",
            m.divergences,
        )
        yield _labelled(
            "ordergate_parity_signals",
            "Parity mode: signals the shadow gate decided as the primary did, or not",
            "outcome",
            dict(m.parity),
        )
        for histogram in m.histograms():
            yield histogram.family()


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
