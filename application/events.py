"""`BrokerEventProcessor`: broker events in → audit → portfolio → publisher.

Every event the broker reports is recorded in the audit log, applied to the portfolio (fills
idempotently by execution id, commissions matched by execution id whenever they come), fed to
the breakers (rejections, acceptances) and published. A malformed or unexpected event never
stops the loop: it is audited as `broker.event_error` and counted by the broker-error breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ordergate.application.audit_records import broker_event_record, system_record
from ordergate.application.desk import TradingDesk
from ordergate.domain.audit import AuditRecord
from ordergate.domain.errors import OrdergateError
from ordergate.domain.events import (
    ConnectionState,
    ConnectionStateChanged,
    FillRecovered,
    PositionSnapshot,
)
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.risk.breakers import BreakerEvent
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.broker import BrokerEvent
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["BrokerEventProcessor"]


class BrokerEventProcessor:
    """Applies broker events to the desk; run `pump()` as a task or call `handle()` directly."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
    ) -> None:
        self._desk = desk
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self.processed = 0
        self.errors: list[str] = []
        self.connection = ConnectionState.CONNECTED
        self._busy = False

    async def handle(self, event: BrokerEvent | FillRecovered) -> None:
        """Record and apply one event."""
        now = self._clock.now()
        self.processed += 1
        if isinstance(event, ConnectionStateChanged | FillRecovered):
            await self._audit.append(system_record(event, now))
            if isinstance(event, ConnectionStateChanged):
                self.connection = event.state
            else:
                await self._apply(event.fill)
            await self._publisher.publish(event)
            return
        if isinstance(event, PositionSnapshot):
            await self._publisher.publish(event)
            return
        await self._audit.append(broker_event_record(event, now))
        await self._apply(event)
        await self._publisher.publish(event)

    async def _apply(self, event: OrderLifecycleEvent | ExecutionFill | CommissionReport) -> None:
        desk = self._desk
        ts = self._clock.now()
        if isinstance(event, OrderLifecycleEvent) and event.client_order_id not in (
            desk.portfolio.orders
        ):
            return  # an order placed outside this session: reconciliation reports it
        try:
            desk.portfolio.apply(event)
        except OrdergateError as exc:
            message = f"{type(exc).__name__}: {exc}"
            self.errors.append(message)
            await self._audit.append(
                AuditRecord("broker.event_error", ts, {"error": message}, event.correlation_id)
            )
            for change in desk.breakers.observe_broker_error(ts):
                await self._system(change)
            return
        if isinstance(event, OrderLifecycleEvent):
            if event.kind is OrderEventKind.REJECTED:
                for change in desk.breakers.observe_rejection(ts):
                    await self._system(change)
            elif event.kind is OrderEventKind.ACCEPTED:
                for change in desk.breakers.observe_acceptance(ts):
                    await self._system(change)

    async def _system(self, event: BreakerEvent) -> None:
        await self._audit.append(system_record(event, self._clock.now()))
        await self._publisher.publish(event)

    async def pump(self, events: AsyncIterator[BrokerEvent]) -> None:
        """Process `events` until the stream ends or the task is cancelled."""
        async for event in events:
            self._busy = True
            try:
                await self.handle(event)
            finally:
                self._busy = False

    async def settle(self, rounds: int = 8) -> None:
        """Yield to the loop until the pump has been idle for `rounds` consecutive turns."""
        idle = 0
        last = -1
        while idle < rounds:
            await asyncio.sleep(0)
            if self._busy or self.processed != last:
                idle = 0
                last = self.processed
            else:
                idle += 1


async def cancel_task(task: asyncio.Task[None]) -> None:
    """Cancel a pump task and wait for it to finish."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
