"""Strategy C monitor cycle: review positions, trip breakers, close what the rules flag.

Closures go through the same gate as everything else (they are `intent=CLOSE` requests, which no
new-risk rule blocks and the over-close check caps). Data quarantine trips the staleness breaker;
daily-loss and drawdown breakers flag everything for closure.
"""

from __future__ import annotations

import attrs

from ordergate.application.audit_records import system_record
from ordergate.application.desk import TradingDesk
from ordergate.application.orders import OrderService
from ordergate.application.results import OrderResult
from ordergate.domain.audit import AuditRecord
from ordergate.domain.risk.breakers import BreakerEvent, BreakerKind
from ordergate.domain.strategy_c import StrategyCConfig, StrategyCReview, review_positions
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["MonitorReport", "StrategyCMonitor"]


@attrs.frozen
class MonitorReport:
    """What one monitor cycle saw and did."""

    review: StrategyCReview
    closures: tuple[OrderResult, ...]
    breaker_events: tuple[BreakerEvent, ...]


class StrategyCMonitor:
    """Runs the Strategy C review and acts on it."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        orders: OrderService,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
        config: StrategyCConfig,
    ) -> None:
        self._desk = desk
        self._orders = orders
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self.config = config

    async def run_cycle(self, *, refresh_quotes: bool = True) -> MonitorReport:
        """Refresh quotes of open positions, review them, and close every flagged one."""
        desk = self._desk
        if refresh_quotes:
            for position in list(desk.portfolio.open_positions()):
                await self._orders.refresh_quote(position.instrument)
        now = self._clock.now()
        events: list[BreakerEvent] = list(desk.observe(now))  # type: ignore[arg-type]
        review = review_positions(
            desk.portfolio,
            now,
            self.config,
            quotes=desk.quotes,
            open_breakers=desk.breakers.open_breakers,
            calendar=desk.calendar,
        )
        if review.data_quarantine:
            names = ", ".join(str(i) for i in review.quarantined)
            events.extend(
                desk.breakers.trip(BreakerKind.DATA_STALENESS, now, f"stale data: {names}")
            )
        for event in events:
            await self._audit.append(system_record(event, now))
            await self._publisher.publish(event)
        results: list[OrderResult] = []
        for flag in review.flags:
            await self._audit.append(
                AuditRecord(
                    "strategy_c.flag",
                    now,
                    {
                        "instrument": flag.instrument_id.value,
                        "reason": flag.reason.value,
                        "reasons": [r.value for r in flag.reasons],
                        "detail": flag.detail,
                        "quantity": str(flag.quantity),
                    },
                )
            )
            current = desk.portfolio.position(flag.instrument_id)
            if current is None or current.is_flat:
                continue
            results.append(await self._orders.close_position(flag.instrument_id, flag.reason))
        return MonitorReport(review, tuple(results), tuple(events))
