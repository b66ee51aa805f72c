"""`OrderGate`: the small, typed public face of ordergate, usable as `async with`.

Build it from ports (`OrderGate(ports, options)`) or from configuration
(`ordergate.application.bootstrap.build_gate(settings)`). It connects the broker, starts the
broker-event pump, and offers the use cases. The broker is private: the only way to send an
order is through the risk gate (`submit_signal`, `submit_request`, `close_position`, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any

import attrs

from ordergate.application.adoption import Adopter, AdoptionReport
from ordergate.application.alerts import AlertMonitor, AlertRules
from ordergate.application.desk import TradingDesk
from ordergate.application.events import BrokerEventProcessor, cancel_task
from ordergate.application.execution import ExecutionGate
from ordergate.application.flatten import Flattener, FlattenReport
from ordergate.application.market import MarketSnapshotService
from ordergate.application.metered import FanOutMetrics, MeteredAuditLog
from ordergate.application.monitor import MonitorReport, StrategyCMonitor
from ordergate.application.orders import OrderService, SizingPolicy
from ordergate.application.publishing import BufferedPublisher, PublisherHealth
from ordergate.application.reconcile import Reconciler, ReconciliationReport
from ordergate.application.results import ExecutionMode, OrderResult
from ordergate.application.simulation import Simulation
from ordergate.application.status import BreakerStatus, GateStatus
from ordergate.application.trading_state import TradingStateKeeper
from ordergate.domain.account import BrokerPosition, OrderView
from ordergate.domain.audit import AuditEntry, AuditHead, AuditRecord, VerifyResult
from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import AccountMismatch, InvalidValue, OrdergateError
from ordergate.domain.events import ConnectionState
from ordergate.domain.indicators.snapshot import MarketSnapshot
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.events import ExecutionFill
from ordergate.domain.orders.request import ClosureReason, OrderRequest
from ordergate.domain.portfolio import Portfolio, Position
from ordergate.domain.risk.breakers import BreakerConfig
from ordergate.domain.risk.decision import BreakerState, TradingState
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal, SignalWindow
from ordergate.domain.strategy_c import StrategyCConfig
from ordergate.domain.values import (
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    Side,
)
from ordergate.ports.alert_sink import AlertSink
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.market_data import MarketData
from ordergate.ports.market_replay import MarketReplay
from ordergate.ports.metrics import NULL_METRICS, Metrics
from ordergate.ports.trading_control import TradingControl

__all__ = ["FINAL_SIGNAL_RECORDS", "GateOptions", "KillReport", "OrderGate", "Ports"]

FINAL_SIGNAL_RECORDS = frozenset({"signal.failed", "signal.rejected"})
"""Audit kinds that close a signal id for good, besides the gate's `risk.decision`: a signal
that failed or was refused at the edge is never tried again, not even after a restart."""


@attrs.frozen
class Ports:
    """The adapters an `OrderGate` runs on."""

    broker: Broker
    market_data: MarketData
    audit: AuditLog
    clock: Clock
    publisher: EventPublisher
    control: TradingControl | None = None
    """Where the operator's trading-state request is persisted (None: in this process only)."""
    metrics: Metrics = NULL_METRICS
    """Where the gate reports what it does (`ports/metrics.py`; default: nowhere). Given one,
    the gate wraps `audit` so that every durable write is reported."""
    alerts: AlertSink | None = None
    """Where alerts go (`ports/alert_sink.py`; None: no alerts). The rules are
    `GateOptions.alerts`; every alert is also audited (`alert.raised`)."""
    market: MarketReplay | None = None
    """The simulated market, when there is one: `OrderGate.simulation` moves it."""


@attrs.frozen
class GateOptions:
    """How the gate behaves: mode, operator id, limits, Strategy C and sizing; `calendar` is the
    exchange calendar the risk rules count business days with (bootstrap passes XNYS);
    `signal_window` the window of the clock a signal's `ts` must lie in."""

    mode: ExecutionMode = ExecutionMode.PAPER
    operator_id: str = ""
    starting_cash: Decimal = Decimal(100_000)
    limits: RiskLimits = attrs.field(factory=RiskLimits)
    breakers: BreakerConfig = attrs.field(factory=BreakerConfig)
    strategy_c: StrategyCConfig = attrs.field(factory=StrategyCConfig)
    sizing: SizingPolicy = attrs.field(factory=SizingPolicy)
    timeout: float = 10.0
    connect_timeout: float = 10.0
    staleness_seconds: float = 300.0
    snapshot_window: timedelta = timedelta(hours=1)
    snapshot_bar_size: timedelta = timedelta(minutes=1)
    calendar: TradingCalendar | None = None
    publish_buffer: int = 10_000
    signal_window: SignalWindow = attrs.field(factory=SignalWindow)
    alerts: AlertRules = attrs.field(factory=AlertRules)


@attrs.frozen
class KillReport:
    """What `OrderGate.kill` did: the flatten it ran, and whether the kill switch was persisted
    (`control_error` says why not; the kill still holds in this process)."""

    flatten: FlattenReport
    persisted: bool
    control_error: str = ""


class OrderGate:
    """Signals in, gated orders out, every decision audited. Use as `async with OrderGate(...)`."""

    def __init__(self, ports: Ports, options: GateOptions | None = None) -> None:
        options = options or GateOptions()
        self.options = options
        metrics = ports.metrics
        self.alerts: AlertMonitor | None = None
        """The alert rules at work (None without an alert sink)."""
        if ports.alerts is not None:
            self.alerts = AlertMonitor(
                options.alerts, ports.alerts, ports.clock, operator_id=options.operator_id
            )
            metrics = (
                self.alerts if metrics is NULL_METRICS else FanOutMetrics(metrics, self.alerts)
            )
        self.metrics: Metrics = metrics
        if metrics is not NULL_METRICS:
            ports = attrs.evolve(
                ports, audit=MeteredAuditLog(ports.audit, metrics), metrics=metrics
            )
        if self.alerts is not None:
            self.alerts.audit = ports.audit
        self.__ports = ports
        self.__simulation = None if ports.market is None else Simulation(self, ports.market)
        self.portfolio = Portfolio(options.starting_cash)
        self._desk = TradingDesk(
            self.portfolio, options.limits, options.breakers, options.calendar
        )
        audit, clock = ports.audit, ports.clock
        # Publishing is after the fact and best effort: nothing on an order's path ever waits
        # for (or fails with) the transport.
        publisher = (
            ports.publisher
            if isinstance(ports.publisher, BufferedPublisher)
            else BufferedPublisher(
                ports.publisher, audit=audit, clock=clock, capacity=options.publish_buffer
            )
        )
        self._publisher = publisher
        self._processor = BrokerEventProcessor(
            desk=self._desk, audit=audit, clock=clock, publisher=publisher, metrics=ports.metrics
        )
        self.__execution = ExecutionGate(
            broker=ports.broker,
            desk=self._desk,
            mode=options.mode,
            timeout=options.timeout,
            audit=audit,
            clock=clock,
            publisher=publisher,
        )
        self.__orders = OrderService(
            gate=self.__execution,
            broker_queries=ports.broker,
            market_data=ports.market_data,
            desk=self._desk,
            operator_id=options.operator_id,
            timeout=options.timeout,
            sizing=options.sizing,
            audit=ports.audit,
            clock=ports.clock,
        )
        self.__monitor = StrategyCMonitor(
            desk=self._desk,
            orders=self.__orders,
            config=options.strategy_c,
            audit=audit,
            clock=clock,
            publisher=publisher,
        )
        self.__reconciler = Reconciler(
            broker=ports.broker,
            desk=self._desk,
            processor=self._processor,
            timeout=options.timeout,
            audit=audit,
            clock=clock,
            publisher=publisher,
        )
        self.__adopter = Adopter(
            broker=ports.broker,
            desk=self._desk,
            processor=self._processor,
            audit=audit,
            clock=clock,
            operator_id=options.operator_id,
            timeout=options.timeout,
            resync_positions=self.resync_from_broker,
        )
        self.__reconciler.is_foreign = self.__adopter.is_foreign
        # a restored broker link gives the trading state back only when this check matches
        self._processor.connectivity.verify_with(lambda: self.reconcile(dry_run=False))
        self.__snapshots = MarketSnapshotService(
            market_data=ports.market_data,
            clock=clock,
            desk=self._desk,
            timeout=options.timeout,
            staleness_seconds=options.staleness_seconds,
            window=options.snapshot_window,
            bar_size=options.snapshot_bar_size,
        )
        self.__trading = TradingStateKeeper(
            desk=self._desk, control=ports.control, audit=audit, clock=clock, publisher=publisher
        )
        self.__flattener = Flattener(
            broker=ports.broker,
            desk=self._desk,
            submit=self.__orders.submit_request,
            settle=self._processor.settle,
            resync=self._learn_from_broker,
            audit=audit,
            clock=clock,
            mode=options.mode,
            operator_id=options.operator_id,
            timeout=options.timeout,
        )
        self._pump: asyncio.Task[None] | None = None
        self.adoption: AdoptionReport | None = None
        self._stopped = False
        self.started_at: datetime | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> OrderGate:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect the broker (not in dry-run), start the event pump and the session."""
        ports = self.__ports
        if self.options.mode is not ExecutionMode.DRY_RUN or not ports.broker.is_connected():
            try:
                await ports.broker.connect(timeout=self.options.connect_timeout)
            except AccountMismatch as exc:  # the gateway's accounts disagree: audit, halt
                await self._processor.connectivity.refuse(str(exc))
                raise
        self._pump = asyncio.create_task(self._processor.pump(ports.broker.events()))
        await asyncio.sleep(0)  # let the pump subscribe before anything can happen
        self.started_at = ports.clock.now()
        self._stopped = False
        self.portfolio.start_session(self.started_at)
        # the broker's truth first: orders of an earlier process, executions, positions
        self.adoption = await self.__adopter.adopt()
        self.portfolio.start_session(self.started_at)  # adopted fills are not today's losses
        await self.__trading.restore()  # a persisted halt or kill holds before anything trades

    async def stop(self) -> None:
        """Drain events, stop the pump, disconnect; working orders stay at the broker.
        Stopping a stopped gate does nothing."""
        if self._stopped:
            return
        self._stopped = True
        ports = self.__ports
        if self._pump is not None:
            await self._processor.settle()
            await cancel_task(self._pump)
            self._pump = None
        await self.__execution.results_recorded()
        if ports.broker.is_connected():
            await ports.broker.disconnect(timeout=self.options.connect_timeout)
        await self._publisher.close()
        if ports.control is not None:
            await ports.control.close()
        if self.alerts is not None:
            await self.alerts.close()
        await ports.audit.close()

    @property
    def simulation(self) -> Simulation:
        """The simulated market's controls (advance by bars or days, run strategies paced):
        only when the gate runs on a simulated market (`broker.kind = "sim"`); `InvalidValue`
        otherwise."""
        if self.__simulation is None:
            raise InvalidValue(
                "broker.kind", "(not sim)", "gate.simulation exists on the simulated broker only"
            )
        return self.__simulation

    def begin_day(self) -> None:
        """Start a new trading session: daily loss and the losing streak count from now."""
        self.portfolio.start_session(self.__ports.clock.now())

    async def settle(self) -> None:
        """Wait until broker events emitted so far have been processed, every broker answer
        recorded (`broker.submit_result`), and (unless the publisher is in an outage) published."""
        await self.__execution.results_recorded()
        await self._processor.settle()
        await self._publisher.flush(timeout=self.options.timeout)

    # -- use cases -----------------------------------------------------------------------------
    async def submit_signal(self, signal: Signal) -> list[OrderResult]:
        """Size, gate, audit and (if approved) send a signal; one result per order.

        A signal whose `ts` lies outside `options.signal_window` of the clock is refused first:
        recorded as `signal.rejected` and raised as `InvalidValue` (nothing sent).
        """
        try:
            self.check_signal(signal)
        except InvalidValue as exc:
            if isinstance(signal, Signal):  # anything else has no id to record
                await self.record_rejected(signal, exc)
            raise
        return await self.__orders.submit_signal(signal)

    def check_signal(self, signal: Signal) -> None:
        """Raise `InvalidValue` (naming the field and the limit) if `signal` may not be traded
        now: its values are checked when it is built; here its time against the clock."""
        if not isinstance(signal, Signal):
            raise InvalidValue("submit_signal(signal)", signal, "must be a Signal")
        self.options.signal_window.check(signal, self.__ports.clock.now())

    async def record_rejected(
        self, signal: Signal, error: InvalidValue, **details: str | None
    ) -> None:
        """Audit `signal.rejected`: the signal id, the field and rule it broke, and `details`."""
        await self.record(
            "signal.rejected",
            {
                **details,
                "signal_id": signal.signal_id.value,
                "field": error.field,
                "error": str(error),
            },
            correlation_id=signal.correlation_id or CorrelationId(signal.signal_id.value),
        )

    async def submit_request(self, request: OrderRequest) -> OrderResult:
        """Gate, audit and (if approved) send a ready-made order request."""
        return await self.__orders.submit_request(request)

    async def modify(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_amount: Decimal | None = None,
        trail_percent: Decimal | None = None,
    ) -> OrderResult:
        """Change a working order through the risk gate (the order as it would stand is judged;
        the decision is durable before the broker is asked); any order state gets a result."""
        return await self.__orders.modify(
            client_order_id,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_amount=trail_amount,
            trail_percent=trail_percent,
        )

    async def cancel(self, client_order_id: ClientOrderId) -> OrderResult:
        """Cancel a working order through the gate (decision and `broker.cancel` durable first);
        an order the broker holds that this session did not place is cancelled too."""
        return await self.__orders.cancel(client_order_id)

    def order_status(self, client_order_id: ClientOrderId) -> OrderResult:
        """An order as the broker's events have built it."""
        return self.__orders.order_status(client_order_id)

    async def market_snapshot(self, instrument: Instrument) -> MarketSnapshot:
        """Snapshot quote + bounded bars → indicators and data quality."""
        return await self.__snapshots.snapshot(instrument)

    def positions(self) -> list[Position]:
        """Open positions (rebuilt from the broker's fills)."""
        return list(self.portfolio.open_positions())

    async def close_position(
        self, instrument_id: InstrumentId, reason: ClosureReason = ClosureReason.MANUAL
    ) -> OrderResult:
        """Close one position with a reason; never blocked by new-risk limits, never over-closes."""
        return await self.__orders.close_position(instrument_id, reason)

    async def close_all(self, reason: ClosureReason = ClosureReason.MANUAL) -> list[OrderResult]:
        """Close every open position."""
        return await self.__orders.close_all(reason)

    async def flatten(self) -> FlattenReport:
        """Operator flatten: cancel every working order of the account at the broker (this
        process's or not), then close each net position the broker reports with a FLATTEN
        order (passes even when HALTED; never over-closes). See `application.flatten`."""
        return await self.__flattener.flatten()

    async def kill(self, reason: str) -> KillReport:
        """The kill switch: HALTED with the switch engaged (audited, persisted so a restart
        stays killed), then everything working cancelled and every position flattened. Only
        an explicit `resume` undoes it."""
        error = await self.__trading.engage_kill_switch(reason)
        report = await self.__flattener.flatten()
        return KillReport(report, error is None, "" if error is None else str(error))

    async def monitor(self) -> MonitorReport:
        """One Strategy C cycle: review positions and close what the rules flag."""
        return await self.__monitor.run_cycle()

    async def reconcile(self, *, dry_run: bool = True) -> ReconciliationReport:
        """Compare with the broker since the session started; without dry run, recover fills."""
        since = self.started_at or self.__ports.clock.now()
        return await self.__reconciler.reconcile(since, dry_run=dry_run)

    # -- the broker's truth (read-only) ------------------------------------------------------
    async def broker_positions(self) -> list[BrokerPosition]:
        """Every non-zero position as the broker reports it now (nothing is changed)."""
        return await self.__ports.broker.positions(timeout=self.options.timeout)

    async def broker_open_orders(self) -> list[OrderView]:
        """Every working order as the broker reports it now (nothing is changed)."""
        return await self.__ports.broker.open_orders(timeout=self.options.timeout)

    async def _learn_from_broker(self) -> None:
        """Before a flatten: end the orders the broker ended unheard (so no stale working order
        shrinks a closure), then move the positions to the broker's."""
        await self.__reconciler.recover_order_ends()
        await self.resync_from_broker()

    async def resync_from_broker(self) -> tuple[ExecutionFill, ...]:
        """Rebuild positions from the broker's: how a restart learns what it holds.

        For every instrument whose quantity differs from the broker's, one synthetic
        `ExecutionFill` (execution id `RESYNC-<instrument>-<time>`) moves the portfolio to the
        broker's quantity at the broker's average cost (or, for a position the broker no longer
        has, at our mark). Each is audited as `portfolio.resync` before it is applied. Nothing
        is sent to the broker. Returns the fills applied (empty when already in step).
        """
        now = self.__ports.clock.now()
        theirs = {p.instrument_id: p for p in await self.broker_positions()}
        ours = {p.instrument_id: p for p in self.portfolio.open_positions()}
        applied: list[ExecutionFill] = []
        for iid in sorted(set(theirs) | set(ours), key=str):
            broker = theirs.get(iid)
            mine = self.portfolio.position_qty(iid)
            target = broker.quantity if broker is not None else Decimal(0)
            if target == mine:
                continue
            if broker is not None:
                self.portfolio.register_instrument(broker.instrument)
                price = broker.avg_cost if broker.avg_cost > 0 else self.portfolio.mark_of(iid)
            else:
                price = self.portfolio.mark_of(iid)
            fill = _resync_fill(iid, target - mine, price, now)
            await self.__ports.audit.append(
                AuditRecord(
                    "portfolio.resync",
                    now,
                    {
                        "instrument": iid.value,
                        "ours": str(mine),
                        "broker": str(target),
                        "avg_cost": None if price is None else str(price),
                        "execution_id": None if fill is None else fill.execution_id.value,
                        "applied": fill is not None,
                    },
                )
            )
            if fill is not None:
                self.portfolio.apply(fill)
                applied.append(fill)
        return tuple(applied)

    # -- records for application services -----------------------------------------------------
    async def record(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        correlation_id: CorrelationId | None = None,
    ) -> None:
        """Append an application record (e.g. `signal.malformed`) to the audit log.

        Durable when it returns; a failing store raises (the caller must not go on as if it
        were recorded).
        """
        now = self.__ports.clock.now()
        await self.__ports.audit.append(AuditRecord(kind, now, payload, correlation_id))

    async def audit_entries(
        self,
        *,
        kind: str | None = None,
        correlation_id: CorrelationId | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit entries matching every given filter, oldest first (read-only)."""
        return await self.__ports.audit.query(
            kind=kind, correlation_id=correlation_id, since=since, until=until, limit=limit
        )

    async def signal_decided(self, signal: Signal) -> bool:
        """True if `signal.signal_id` was dealt with before, in this session or before a
        restart: the gate decided on it (a `risk.decision`), or it failed or was refused at the
        edge (`FINAL_SIGNAL_RECORDS`). Read from the audit log, so a restart remembers it."""
        if signal.signal_id in self._desk.seen_signal_ids:
            return True
        correlation = signal.correlation_id or CorrelationId(signal.signal_id.value)
        sid = signal.signal_id.value
        for entry in await self.__ports.audit.query(correlation_id=correlation):
            kind, payload = entry.record.kind, entry.record.payload
            if kind == "risk.decision":
                request = payload.get("request")
                if isinstance(request, Mapping) and request.get("signal_id") == sid:
                    return True
            elif kind in FINAL_SIGNAL_RECORDS and payload.get("signal_id") == sid:
                return True
        return False

    async def refresh_quote(self, instrument_id: InstrumentId) -> None:
        """Take a fresh snapshot quote for a known instrument."""
        for instrument in self.portfolio.instruments():
            if instrument.id == instrument_id:
                await self.__orders.refresh_quote(instrument)
                return
        raise OrdergateError(f"{instrument_id} is not known to this session")

    # -- trading state -------------------------------------------------------------------------
    @property
    def trading_state(self) -> TradingState:
        return self._desk.trading.state

    @property
    def kill_switch_engaged(self) -> bool:
        """True while the kill switch holds trading HALTED (until an explicit `resume`)."""
        return self.__trading.kill_switch

    def status(self) -> GateStatus:
        """The trading state, kill switch, breakers, broker link and counts, as they stand now
        (read-only; what the control API's `GET /status` shows)."""
        desk, trading = self._desk, self._desk.trading
        breakers = tuple(
            BreakerStatus(b.name, b.state, b.opened_at, b.reason)
            for b in desk.breakers.breakers.values()
        )
        return GateStatus(
            mode=self.options.mode.value,
            operator_id=self.options.operator_id,
            trading_state=trading.state,
            trading_reason=trading.reason,
            trading_changed_at=trading.changed_at,
            kill_switch=trading.kill_switch,
            breakers=breakers,
            broker_connected=self.__ports.broker.is_connected(),
            link_lost=self._processor.connectivity.link_lost,
            started_at=self.started_at,
            now=self.__ports.clock.now(),
            open_positions=sum(1 for _ in self.portfolio.open_positions()),
            working_orders=sum(1 for _ in self.portfolio.working_orders()),
            orders_tracked=len(self.portfolio.orders),
        )

    async def halt(self, reason: str) -> None:
        """HALTED: nothing passes except Strategy C closures and flattens. Persisted through
        the trading control (when the gate has one), so other processes and restarts hold it."""
        await self.__trading.halt(reason)

    async def reduce(self, reason: str) -> None:
        """REDUCING: only exposure-reducing orders pass (persisted; refused while killed)."""
        await self.__trading.reduce(reason)

    async def resume(self, reason: str) -> None:
        """Back to ACTIVE, persisted; the explicit resume that also releases the kill switch."""
        await self.__trading.resume(reason)

    async def sync_trading_control(self, control: TradingControl | None = None) -> bool:
        """Apply the operator's request in `control` (default: the gate's own) if it changed
        since the last one applied; True when the trading state changed. How `serve` and
        `run` honour `ordergate halt` / `kill` / `resume` while they trade."""
        return await self.__trading.sync(control)

    async def publish_snapshots(self) -> None:
        """Publish a `PositionSnapshot` of every open position and the `PnLSnapshot` now (the
        gate also does after every fill); best effort, through the publisher's buffer."""
        for snapshot in self._processor.snapshots():
            await self._publisher.publish(snapshot)

    def breaker_states(self) -> dict[str, BreakerState]:
        """Each enabled circuit breaker's state, by breaker name."""
        return {b.name: b.state for b in self._desk.breakers.breakers.values()}

    @property
    def connection_state(self) -> ConnectionState:
        """The broker link as the event pump last heard of it."""
        return self._processor.connection

    def oldest_unapplied_event_age(self) -> timedelta | None:
        """How long the oldest broker event read but not yet applied has waited (None: none)."""
        return self._processor.oldest_pending_age(self.__ports.clock.now())

    def publisher_health(self) -> PublisherHealth:
        """What the event publisher has sent, buffered and dropped, and its outages."""
        return self._publisher.health()

    async def verify_audit(self, anchor: AuditHead | None = None) -> VerifyResult:
        """Verify the audit chain against its head checkpoint (and `anchor`, a head saved
        earlier: `VerifyResult.head` of an earlier verify); see docs/audit.md."""
        return await self.__ports.audit.verify(anchor=anchor)

    @property
    def now(self) -> datetime:
        return self.__ports.clock.now()

    @property
    def mode(self) -> ExecutionMode:
        return self.options.mode


def _resync_fill(
    instrument_id: InstrumentId, delta: Decimal, price: Decimal | None, now: datetime
) -> ExecutionFill | None:
    """The synthetic fill that moves a position by `delta` (None without a usable price)."""
    if price is None or price <= 0:
        return None
    tag = f"{str(instrument_id).replace(' ', '')}-{now:%Y%m%dT%H%M%S%f}"
    return ExecutionFill(
        client_order_id=ClientOrderId(f"RESYNC-{tag}"),
        execution_id=ExecutionId(f"RESYNC-{tag}"),
        instrument_id=instrument_id,
        side=Side.BUY if delta > 0 else Side.SELL,
        quantity=abs(delta),
        price=price,
        ts_event=now,
        ts_init=now,
        commission=Decimal(0),
        correlation_id=CorrelationId(f"RESYNC-{tag}"),
    )
