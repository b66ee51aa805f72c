"""Run a service that consumes signals from a `SignalSource` (SPEC §6, §11).

`SignalService.run(stop)` loops until `stop` is set (or a limit of `ServiceOptions` is reached):
receive a bounded batch (at most `max_count` deliveries, waiting at most `receive_timeout` real
seconds), handle each delivery and acknowledge it only **after** its outcome is durable in the
audit log (at-least-once), then do the housekeeping: apply the trading state an operator asked
for through a `TradingControl` (the gate's own, or the one given to the service), and every
`monitor_interval` run a Strategy C monitor cycle.

Per delivery:
- malformed (`signal is None`: the source could not parse it — too large, nested too deep, not
  JSON, or a value that breaks a rule of `Signal`): audited as `signal.malformed` with the
  error, then quarantined (acknowledged and copied to the source's dead-letter store); nothing
  sent;
- a signal id seen before — by this service (a bounded memory), or dealt with by the gate in
  this session or before a restart (a `risk.decision`, `signal.failed` or `signal.rejected` in
  the audit log: `OrderGate.signal_decided`) — is audited as `signal.duplicate` and acked
  without being resubmitted;
- a signal the gate refuses at the edge (`OrderGate.check_signal`: its `ts` outside the clock's
  window) is audited as `signal.rejected` naming the field and the limit, then quarantined;
- otherwise `gate.submit_signal` (sizing, the risk gate, audit, broker), then ack;
- any exception, or an order result FAILED (could not be sent), is audited as `signal.failed`
  and the delivery acked: a failed trading signal is never retried later, not even after a
  restart (a late retry is not safer than the recorded failure). The loop goes on.
A delivery whose outcome could not be audited is not acknowledged, so it is delivered again.

Schedules (monitor, control polling, idle exit) run on the `clock` given to the service: the
system clock for `ordergate serve`, a `FakeClock` in tests. This module sends orders only
through the gate, and never acknowledges a delivery whose outcome is not in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import attrs

from ordergate.application.facade import OrderGate
from ordergate.application.parity import PARITY_RECORD, compare_decisions, signal_decisions
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.errors import InvalidValue
from ordergate.domain.signals import Signal
from ordergate.domain.values import CorrelationId
from ordergate.ports.clock import Clock
from ordergate.ports.signal_source import SignalDelivery, SignalSource
from ordergate.ports.trading_control import TradingControl

__all__ = [
    "RECENT_RESULTS",
    "SeenSignalIds",
    "ServiceOptions",
    "ServiceSummary",
    "SignalService",
    "TradingControl",
]


_log = logging.getLogger("ordergate.signals")

RECENT_RESULTS = 1000
"""How many recent order results (and closures) a `ServiceSummary` keeps."""


def _positive(inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise InvalidValue(f"ServiceOptions.{attribute.name}", value, "must be > 0")


def _optional_positive(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise InvalidValue(f"ServiceOptions.{attribute.name}", value, "must be > 0 (or None)")


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidValue(f"ServiceOptions.{name}", value, "must be an integer >= 1")


def _at_least_one(inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    _check_count(attribute.name, value)


def _optional_count(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_count(attribute.name, value)


@attrs.frozen
class ServiceOptions:
    """How the service loop runs. Durations are seconds.

    `max_count` / `receive_timeout` bound each receive; `monitor_interval` (None: never) is how
    often Strategy C runs and `control_interval` how often the `TradingControl` is read, both on
    the service clock; `seen_capacity` bounds the memory of signal ids; `max_signals` stops after
    that many deliveries and `idle_exit` after that long without one (None: no limit);
    `error_backoff` is the pause after the source itself fails; every `snapshot_interval`
    (None: never) the gate publishes a `PositionSnapshot` of each position and a `PnLSnapshot`.
    `reconcile_interval` (None: never) is how often the divergence watch compares the gate's
    view with the broker's.
    """

    max_count: int = attrs.field(default=10, validator=_at_least_one)
    receive_timeout: float = attrs.field(default=1.0, validator=_positive)
    monitor_interval: float | None = attrs.field(default=60.0, validator=_optional_positive)
    control_interval: float = attrs.field(default=1.0, validator=_positive)
    seen_capacity: int = attrs.field(default=100_000, validator=_at_least_one)
    max_signals: int | None = attrs.field(default=None, validator=_optional_count)
    idle_exit: float | None = attrs.field(default=None, validator=_optional_positive)
    error_backoff: float = attrs.field(default=1.0, validator=_positive)
    snapshot_interval: float | None = attrs.field(default=60.0, validator=_optional_positive)
    reconcile_interval: float | None = attrs.field(default=None, validator=_optional_positive)


@attrs.define
class ServiceSummary:
    """What a service run did: deliveries by outcome, order results, monitor cycles, controls.

    `gated` counts signals handed to the gate (each gives one result per order, approved or
    not); `malformed` and `rejected` deliveries were quarantined; `unacked` deliveries whose
    outcome could not be recorded (they come again). A service runs for days: `results` and
    `closures` keep only the last `RECENT_RESULTS`; the counts
    (`status_counts()`, `closure_count`) cover the whole run.
    """

    deliveries: int = 0
    gated: int = 0
    malformed: int = 0
    rejected: int = 0
    duplicates: int = 0
    failed: int = 0
    unacked: int = 0
    source_errors: int = 0
    monitor_cycles: int = 0
    monitor_errors: int = 0
    control_changes: int = 0
    control_errors: int = 0
    reconcile_runs: int = 0
    divergences: int = 0
    healed_fills: int = 0
    unexplained: int = 0
    reconcile_errors: int = 0
    parity_matches: int = 0
    parity_mismatches: int = 0
    results: deque[OrderResult] = attrs.field(factory=lambda: deque(maxlen=RECENT_RESULTS))
    closures: deque[OrderResult] = attrs.field(factory=lambda: deque(maxlen=RECENT_RESULTS))
    closure_count: int = 0
    statuses: Counter[str] = attrs.field(factory=Counter)
    stopped_because: str = ""

    def add_results(self, results: Iterable[OrderResult]) -> None:
        """Count the results of one signal (and keep the most recent ones)."""
        for result in results:
            self.results.append(result)
            self.statuses[result.status.value] += 1

    def add_closures(self, closures: Iterable[OrderResult]) -> None:
        """Count Strategy C closures (and keep the most recent ones)."""
        for closure in closures:
            self.closures.append(closure)
            self.closure_count += 1

    def status_counts(self) -> Counter[str]:
        """How many order results ended in each status (SUBMITTED, DENIED, ...), over the run."""
        return Counter(self.statuses)


class SeenSignalIds:
    """The `capacity` signal ids seen most recently (least recently seen forgotten first)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise InvalidValue("SeenSignalIds.capacity", capacity, "must be >= 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, signal_id: object) -> bool:
        return str(signal_id) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, signal_id: object) -> None:
        """Remember `signal_id` (refreshing it if known); forget the oldest beyond capacity."""
        key = str(signal_id)
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


class SignalService:
    """Consumes `source` into `gate` until stopped (see the module docstring)."""

    def __init__(
        self,
        gate: OrderGate,
        source: SignalSource,
        clock: Clock,
        *,
        options: ServiceOptions | None = None,
        control: TradingControl | None = None,
        shadow: OrderGate | None = None,
    ) -> None:
        self._gate = gate
        self._shadow = shadow
        self._source = source
        self._clock = clock
        self.options = options or ServiceOptions()
        self._control = control
        self._seen = SeenSignalIds(self.options.seen_capacity)
        self._last_control_error = ""
        self._last_source_error = ""
        self._next_monitor: datetime | None = None
        self._next_control: datetime | None = None
        self._next_snapshot: datetime | None = None
        self._next_reconcile: datetime | None = None
        self.summary = ServiceSummary()

    async def run(self, stop: asyncio.Event) -> ServiceSummary:
        """Serve until `stop` is set or a limit is reached; returns the summary."""
        options = self.options
        summary = self.summary
        last_delivery = self._clock.now()
        await self._housekeeping(force=True)
        while not summary.stopped_because:
            if stop.is_set():
                summary.stopped_because = "stop requested"
                break
            deliveries = await self._receive(stop)
            for delivery in deliveries:
                await self.handle(delivery)
                if stop.is_set():
                    break
            if deliveries:
                await self._gate.settle()
                last_delivery = self._clock.now()
            await self._housekeeping()
            if options.max_signals is not None and summary.deliveries >= options.max_signals:
                summary.stopped_because = f"max signals ({options.max_signals}) reached"
            elif options.idle_exit is not None and self._clock.now() - last_delivery >= timedelta(
                seconds=options.idle_exit
            ):
                summary.stopped_because = f"idle for {options.idle_exit:g} s"
        await self._gate.settle()
        return summary

    # -- one delivery ---------------------------------------------------------------------------
    async def handle(self, delivery: SignalDelivery) -> None:
        """Handle one delivery and acknowledge it once its outcome is audited.

        The outcome (one of `SIGNAL_OUTCOMES`) and the time from here to the audited outcome go
        to the gate's metrics, and one log line (`ordergate.signals`, INFO) tells of it."""
        started = perf_counter()
        self.summary.deliveries += 1
        results: list[OrderResult] = []
        try:
            recorded, outcome, results = await self._process(delivery)
        except Exception as exc:  # one bad signal never stops the loop: record it, go on
            self.summary.failed += 1
            outcome = "failed"
            recorded = await self._record_failure(delivery, _describe(exc))
        elapsed = perf_counter() - started
        self._gate.metrics.signal_handled(outcome, elapsed)
        if _log.isEnabledFor(logging.INFO):
            _log_decision(delivery, outcome, results, elapsed)
        if not recorded:
            self.summary.unacked += 1
            return
        try:
            if recorded is True:
                await self._source.ack(delivery.delivery_id)
            else:
                await self._source.quarantine(delivery.delivery_id, recorded)
        except Exception as exc:  # redelivered later, then recognised as a duplicate
            self.summary.unacked += 1
            await self._try_record(
                "signal.ack_failed",
                {"delivery_id": delivery.delivery_id, "error": _describe(exc)},
                None,
            )

    async def _process(self, delivery: SignalDelivery) -> tuple[bool | str, str, list[OrderResult]]:
        """Whether the outcome was recorded (True: recorded, ack it. A string: recorded,
        quarantine it for that reason. False: not recorded, leave it unacknowledged), the
        outcome, and the gate's order results."""
        signal = delivery.signal
        if signal is None:
            self.summary.malformed += 1
            error = _storable(delivery.error or "no signal in the delivery")
            recorded = await self._try_record(
                "signal.malformed",
                {
                    "delivery_id": delivery.delivery_id,
                    "error": error,
                    "raw": _storable(delivery.raw),
                },
                None,
            )
            return recorded and f"malformed: {error}", "malformed", []
        correlation = _correlation(signal)
        if signal.signal_id in self._seen or await self._gate.signal_decided(signal):
            self.summary.duplicates += 1
            self._seen.add(signal.signal_id)
            recorded = await self._try_record(
                "signal.duplicate",
                {"delivery_id": delivery.delivery_id, "signal_id": signal.signal_id.value},
                correlation,
            )
            return recorded, "duplicate", []
        self._seen.add(signal.signal_id)
        try:
            self._gate.check_signal(signal)
        except InvalidValue as exc:
            self.summary.rejected += 1
            try:
                await self._gate.record_rejected(signal, exc, delivery_id=delivery.delivery_id)
            except Exception:  # not recorded means not acknowledged
                return False, "rejected", []
            return _storable(f"rejected: {exc}"), "rejected", []
        results = await self._gate.submit_signal(signal)
        self.summary.gated += 1
        self.summary.add_results(results)
        if self._shadow is not None:
            await self._compare_with_shadow(self._shadow, signal, correlation)
        failed = [r for r in results if r.status is OrderResultStatus.FAILED]
        if not failed:
            # the gate audited its decisions before anything was sent
            approved = any(r.decision is not None and r.decision.approved for r in results)
            return True, "approved" if approved else "denied", results
        # FAILED may mean the audit log refused the decision: only ack once a record holds.
        recorded = await self._record_failure(
            delivery, "; ".join(f"{r.client_order_id}: {r.reason}" for r in failed)
        )
        return recorded, "failed", results

    async def _compare_with_shadow(
        self, shadow: OrderGate, signal: Signal, correlation: CorrelationId
    ) -> None:
        """Parity mode (`ordergate.application.parity`): the shadow gate (dry_run) decides on
        `signal` too, and the comparison is audited as `parity.comparison`. Never raises: a
        shadow failure is a mismatch naming it, and does not touch the primary's outcome."""
        differences: list[str]
        try:
            primary = await signal_decisions(self._gate, signal)
        except Exception as exc:  # the primary's decision stands; the comparison is lost
            await self._try_record(
                "parity.error",
                {"signal_id": signal.signal_id.value, "error": _describe(exc)},
                correlation,
            )
            return
        shadow_decisions: list[dict[str, Any]] = []
        try:
            shadow_results = await shadow.submit_signal(signal)
            shadow_decisions = await signal_decisions(shadow, signal)
            differences = [
                f"shadow failed: {r.client_order_id}: {r.reason}"
                for r in shadow_results
                if r.status is OrderResultStatus.FAILED
            ]
            differences += compare_decisions(primary, shadow_decisions)
        except Exception as exc:  # the shadow never affects the primary path
            differences = [f"shadow failed: {_describe(exc)}"]
        match = not differences
        if match:
            self.summary.parity_matches += 1
        else:
            self.summary.parity_mismatches += 1
        await self._try_record(
            PARITY_RECORD,
            {
                "signal_id": signal.signal_id.value,
                "match": match,
                "differences": [_storable(d, 500) for d in differences[:20]],
                "primary": primary,
                "shadow": shadow_decisions,
            },
            correlation,
        )

    async def _record_failure(self, delivery: SignalDelivery, error: str) -> bool:
        signal = delivery.signal
        return await self._try_record(
            "signal.failed",
            {
                "delivery_id": delivery.delivery_id,
                "signal_id": None if signal is None else signal.signal_id.value,
                "error": error,
            },
            None if signal is None else _correlation(signal),
        )

    async def _try_record(
        self, kind: str, payload: dict[str, object], correlation: CorrelationId | None
    ) -> bool:
        """Append a record; False when the audit log refused it (the delivery stays unacked)."""
        try:
            await self._gate.record(kind, payload, correlation_id=correlation)
        except Exception:  # the store's error types vary; not recorded means not acknowledged
            return False
        return True

    # -- the loop's other duties ----------------------------------------------------------------
    async def _receive(self, stop: asyncio.Event) -> list[SignalDelivery]:
        options = self.options
        count = options.max_count
        if options.max_signals is not None:
            count = max(1, min(count, options.max_signals - self.summary.deliveries))
        try:
            deliveries = await self._source.receive(
                max_count=count, timeout=options.receive_timeout
            )
        except Exception as exc:  # the transport failed: note it once, back off, try again
            self.summary.source_errors += 1
            message = _describe(exc)
            if message != self._last_source_error:
                self._last_source_error = message
                await self._try_record("service.source_error", {"error": message}, None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), options.error_backoff)
            return []
        self._last_source_error = ""
        return deliveries

    async def _housekeeping(self, *, force: bool = False) -> None:
        now = self._clock.now()
        options = self.options
        if force or self._next_control is None or now >= self._next_control:
            self._next_control = now + timedelta(seconds=options.control_interval)
            await self.apply_control()
        if options.snapshot_interval is not None and (
            self._next_snapshot is None or now >= self._next_snapshot
        ):
            self._next_snapshot = now + timedelta(seconds=options.snapshot_interval)
            await self._gate.publish_snapshots()
        if options.reconcile_interval is not None:
            if self._next_reconcile is None:
                self._next_reconcile = now + timedelta(seconds=options.reconcile_interval)
            elif now >= self._next_reconcile:
                self._next_reconcile = now + timedelta(seconds=options.reconcile_interval)
                await self.watch_divergence()
        if options.monitor_interval is None:
            return
        if self._next_monitor is None:
            self._next_monitor = now + timedelta(seconds=options.monitor_interval)
        elif now >= self._next_monitor:
            self._next_monitor = now + timedelta(seconds=options.monitor_interval)
            await self.run_monitor()

    async def run_monitor(self) -> None:
        """One Strategy C cycle; a failure is audited as `service.monitor_error`, never raised."""
        try:
            report = await self._gate.monitor()
        except Exception as exc:  # the service outlives a failed cycle; the next one retries
            self.summary.monitor_errors += 1
            await self._try_record("service.monitor_error", {"error": _describe(exc)}, None)
            return
        self.summary.monitor_cycles += 1
        self.summary.add_closures(report.closures)
        await self._gate.settle()

    async def watch_divergence(self) -> None:
        """One divergence check (the gate's `reconcile(dry_run=False)`): every difference is
        audited and published as a `ReconciliationDiff` with its likely cause, and executions the
        gate missed are applied once. A difference that applying them does not explain (a second
        look still finds it) moves trading to REDUCING, audited. Never raises."""
        try:
            report = await self._gate.reconcile(dry_run=False)
            self.summary.reconcile_runs += 1
            if report.clean:
                return
            self.summary.divergences += len(report.diffs)
            self.summary.healed_fills += len(report.recovered)
            await self._gate.settle()
            after = await self._gate.reconcile(dry_run=True)
            if after.clean:
                return
            self.summary.unexplained += len(after.diffs)
            described = "; ".join(
                f"{d.kind} {d.key}: ours {d.ours}, broker {d.broker}" for d in after.diffs[:5]
            )
            await self._gate.reduce(f"unexplained divergence from the broker: {described}")
        except Exception as exc:  # the watch outlives a failed check; the next one retries
            self.summary.reconcile_errors += 1
            await self._try_record("service.reconcile_error", {"error": _describe(exc)}, None)

    async def apply_control(self) -> None:
        """Read the trading control and apply a newly requested state through the gate.

        The control is the one given to the service, else the gate's own (`ordergate serve`:
        the file or Redis key `ordergate halt` / `kill` / `resume` write). Only a change of the
        request is applied (the breakers may have moved the state since); the gate audits it
        (`risk.trading_state`, `trading.kill_switch`). A kill request engages the kill switch
        here; cancelling and flattening is the job of the process that asked for the kill
        (`ordergate kill`), so two processes never flatten the same account at once. An
        unreadable control keeps the current state and is audited once per distinct error as
        `service.control_error`.
        """
        try:
            changed = await self._gate.sync_trading_control(self._control)
        except Exception as exc:  # keep trading state as it is; say why once
            self.summary.control_errors += 1
            message = _describe(exc)
            if message != self._last_control_error:
                self._last_control_error = message
                await self._try_record("service.control_error", {"error": message}, None)
            return
        self._last_control_error = ""
        if changed:
            self.summary.control_changes += 1


def _correlation(signal: Signal) -> CorrelationId:
    """The correlation id the gate uses for `signal` (its own, else its signal id)."""
    return signal.correlation_id or CorrelationId(signal.signal_id.value)


def _storable(text: str, limit: int = 2000) -> str:
    """At most `limit` characters of `text` that any audit store and transport can hold: a lone
    surrogate (undecodable bytes of a hostile message) is written as its escape."""
    text = text[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _log_decision(
    delivery: SignalDelivery, outcome: str, results: list[OrderResult], elapsed: float
) -> None:
    """One line per signal decision: its id, outcome, the denial reason codes and latency."""
    signal = delivery.signal
    signal_id = signal.signal_id.value if signal is not None else None
    reasons = sorted(
        {d.code.value for r in results if r.decision is not None for d in r.decision.denials}
    )
    _log.info(
        "signal %s %s reasons=%s latency_ms=%.3f",
        signal_id or f"delivery:{delivery.delivery_id}",
        outcome,
        ",".join(reasons) or "-",
        elapsed * 1000,
        extra={
            "signal_id": signal_id,
            "delivery_id": delivery.delivery_id,
            "outcome": outcome,
            "reasons": reasons,
            "latency_s": elapsed,
            "orders": [r.status.value for r in results],
        },
    )
