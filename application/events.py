"""`BrokerEventProcessor`: broker events in → audit → portfolio → publisher.

Every event the broker reports is recorded in the audit log, applied to the portfolio (fills
idempotently by execution id, commissions matched by execution id whenever they come, option
settlements at expiry once per settlement id), fed to
the breakers (rejections, acceptances) and published. A malformed or unexpected event never
stops the loop: it is audited as `broker.event_error` and counted by the broker-error breaker.
Connection events go to the `ConnectivityGuard` (`connectivity.py`): a lost link moves trading
to REDUCING, and only a resync that matches the broker gives the previous state back.

The pump works in batches: every event already waiting (up to `max_batch`) is recorded with one
audit write, then the events are applied and published one by one in arrival order. It must
never apply an event whose record is not durable: a failed audit write stops the pump with
nothing of that batch applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

from ordergate.application.audit_records import broker_event_record, system_record
from ordergate.application.connectivity import ConnectivityGuard
from ordergate.application.desk import TradingDesk
from ordergate.application.logs import log_order_event, log_state_change
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.events import (
    ConnectionState,
    ConnectionStateChanged,
    FillRecovered,
    OptionSettlement,
    PnLSnapshot,
    PositionSnapshot,
    UnapprovedOrderRefused,
)
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.risk.breakers import BreakerEvent
from ordergate.domain.values import ZERO, InstrumentId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import BrokerEvent
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.metrics import NULL_METRICS, Metrics

__all__ = ["DEFAULT_MAX_BATCH", "BrokerEventProcessor"]

DEFAULT_MAX_BATCH = 1024
"""The most events recorded by one audit write. It also bounds how long one batch holds the
event loop (a full batch took ~20 ms on the bench machine with the in-memory audit log, where
nothing suspends) and how many events the reader moves from the stream per turn of the loop."""

_Applicable = OrderLifecycleEvent | ExecutionFill | CommissionReport | OptionSettlement


class BrokerEventProcessor:
    """Applies broker events to the desk; run `pump()` as a task or call `handle()` directly."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
        max_batch: int = DEFAULT_MAX_BATCH,
        metrics: Metrics = NULL_METRICS,
    ) -> None:
        if max_batch < 1:
            raise InvalidValue("BrokerEventProcessor.max_batch", max_batch, "must be at least 1")
        self._desk = desk
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._max_batch = max_batch
        self._metrics = metrics
        self.processed = 0
        self.errors: list[str] = []
        self.refused_unapproved = 0
        self.connection = ConnectionState.CONNECTED
        self.connectivity = ConnectivityGuard(
            desk=desk, audit=audit, clock=clock, publisher=publisher
        )
        """Loss of the broker link → REDUCING; back after a matching resync (`connectivity.py`)."""
        self._inbox: deque[BrokerEvent] = deque()  # read from the stream, not yet taken
        self._busy = False

    async def handle(self, event: BrokerEvent) -> None:
        """Record and apply one event."""
        await self._handle_batch([event])

    async def _handle_batch(self, events: Sequence[BrokerEvent]) -> None:
        """Record every event with one audit write, then apply and publish them in order.

        What applying an event records in turn (`broker.event_error`, breaker changes) is
        appended as it happens, so it follows the whole batch's records in the log.
        """
        self.processed += len(events)
        now = self._clock.now()
        if self._metrics is not NULL_METRICS:
            lag = self._metrics.event_lag
            for event in events:
                lag((now - event.ts_init).total_seconds())
        records = [
            system_record(event, now)
            if isinstance(event, ConnectionStateChanged | FillRecovered | UnapprovedOrderRefused)
            else broker_event_record(event, now)
            for event in events
            if not isinstance(event, PositionSnapshot)  # published, never recorded
        ]
        await self._record(records)  # raises before anything is applied
        publish = self._publisher.publish
        for event in events:
            filled: ExecutionFill | None = None
            if isinstance(event, UnapprovedOrderRefused):
                self.refused_unapproved += 1
                continue  # recorded (an attempt around the gate), nothing to apply or publish
            if isinstance(event, ConnectionStateChanged):
                self.connection = event.state
                log_state_change(event)
                await self.connectivity.observe(event)
            elif isinstance(event, FillRecovered):
                if await self._apply(event.fill):
                    filled = event.fill
            elif not isinstance(event, PositionSnapshot):
                if await self._apply(event) and isinstance(event, ExecutionFill):
                    filled = event
                if isinstance(event, OrderLifecycleEvent):
                    log_order_event(event)
            await publish(event)
            if filled is not None:  # the position and the account as this fill left them
                for snapshot in self.snapshots((filled.instrument_id,)):
                    await publish(snapshot)

    async def _record(self, records: list[AuditRecord]) -> None:
        if len(records) == 1:
            await self._audit.append(records[0])
        elif records:
            await self._audit.append_many(records)

    async def _apply(self, event: _Applicable) -> bool:
        """Apply `event` to the portfolio; False when it changed nothing (someone else's order,
        an execution already applied, or an error audited as `broker.event_error`)."""
        desk = self._desk
        if isinstance(event, OrderLifecycleEvent) and event.client_order_id not in (
            desk.portfolio.orders
        ):
            return False  # an order placed outside this session: reconciliation reports it
        try:
            changed = desk.portfolio.apply(event)
        except OrdergateError as exc:
            ts = self._clock.now()
            message = f"{type(exc).__name__}: {exc}"
            self.errors.append(message)
            await self._audit.append(
                AuditRecord("broker.event_error", ts, {"error": message}, event.correlation_id)
            )
            for change in desk.breakers.observe_broker_error(ts):
                await self._system(change)
            return False
        if isinstance(event, OrderLifecycleEvent):
            if event.kind is OrderEventKind.REJECTED:
                for change in desk.breakers.observe_rejection(self._clock.now()):
                    await self._system(change)
            elif event.kind is OrderEventKind.ACCEPTED:
                for change in desk.breakers.observe_acceptance(self._clock.now()):
                    await self._system(change)
        return changed

    async def _system(self, event: BreakerEvent) -> None:
        await self._audit.append(system_record(event, self._clock.now()))
        log_state_change(event)
        await self._publisher.publish(event)

    async def pump(self, events: AsyncIterator[BrokerEvent]) -> None:
        """Process `events` until the stream ends or the task is cancelled.

        A reader task moves events from the stream to an inbox; this task takes up to
        `max_batch` of them at a time and yields to the loop between batches, so a burst never
        holds the loop for long. A failure (the audit log's, the publisher's, or the stream's
        own) ends the pump with that error; events still in the inbox are then dropped, as they
        would have stayed unread on the stream. Run one pump per processor at a time.
        """
        arrived = asyncio.Event()
        reader = asyncio.create_task(self._read(events, arrived))
        inbox = self._inbox
        try:
            while True:
                if not inbox:
                    if reader.done():
                        reader.result()  # the stream's own failure, if it had one
                        return
                    arrived.clear()
                    await arrived.wait()
                    continue
                batch = [inbox.popleft() for _ in range(min(len(inbox), self._max_batch))]
                self._busy = True
                try:
                    await self._handle_batch(batch)
                finally:
                    self._busy = False
                await asyncio.sleep(0)
        finally:
            inbox.clear()
            reader.cancel()
            # The reader's own outcome is reported above or superseded by this task's error.
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, events: AsyncIterator[BrokerEvent], arrived: asyncio.Event) -> None:
        inbox, read = self._inbox, 0
        try:
            async for event in events:
                inbox.append(event)
                arrived.set()
                read += 1
                if read >= self._max_batch:  # a burst on the stream: let the pump run
                    read = 0
                    await asyncio.sleep(0)
        finally:
            arrived.set()  # the stream ended or failed: wake the pump to find out

    def snapshots(
        self, instruments: Sequence[InstrumentId] | None = None
    ) -> list[PositionSnapshot | PnLSnapshot]:
        """A `PositionSnapshot` of each of `instruments` (None: every open position) as the
        portfolio holds it now, then the account's `PnLSnapshot`. Published after every fill
        (of its instrument) and on the service's timer, whatever the broker."""
        portfolio = self._desk.portfolio
        now = self._clock.now()
        chosen = (
            [p.instrument_id for p in portfolio.open_positions()]
            if instruments is None
            else list(instruments)
        )
        out: list[PositionSnapshot | PnLSnapshot] = []
        for instrument in chosen:
            position = portfolio.position(instrument)
            quantity = ZERO if position is None else position.quantity
            average = None if position is None else position.avg_open_price
            out.append(PositionSnapshot(instrument, quantity, average, now, now))
        out.append(
            PnLSnapshot(
                portfolio.realized_pnl(),
                portfolio.unrealized_pnl(),
                portfolio.total_commissions,
                portfolio.equity(),
                now,
                now,
            )
        )
        return out

    def oldest_pending_age(self, now: datetime) -> timedelta | None:
        """How long the oldest event read from the stream and not yet taken has waited."""
        inbox = self._inbox
        return now - inbox[0].ts_init if inbox else None

    async def settle(self, rounds: int = 8) -> None:
        """Yield to the loop until the pump has been idle (nothing read and waiting, nothing
        being processed, nothing new counted) for `rounds` consecutive turns."""
        idle = 0
        last = -1
        while idle < rounds:
            await asyncio.sleep(0)
            if self._busy or self._inbox or self.processed != last:
                idle = 0
                last = self.processed
            else:
                idle += 1


async def cancel_task(task: asyncio.Task[None]) -> None:
    """Cancel a pump task and wait for it to finish."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
