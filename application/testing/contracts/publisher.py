"""`PublisherContract` and `PublisherHarness`: the behaviour every `EventPublisher` must show.

Provide a `publisher_harness` fixture yielding a `PublisherHarness` (and closing it) and subclass
the contract (see `contracts.broker` for the pattern). The suite must never depend on the
transport: it only publishes and looks at what a subscriber received.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import pytest

from ordergate.domain.events import (
    BreakerReset,
    BreakerTripped,
    CommissionReport,
    ConnectionState,
    ConnectionStateChanged,
    ExecutionFill,
    FillRecovered,
    LifecycleEvent,
    OrderEventKind,
    OrderLifecycleEvent,
    PnLSnapshot,
    PositionSnapshot,
    ReconciliationDiff,
    RiskDecisionMade,
    TradingStateChanged,
)
from ordergate.domain.risk.decision import (
    BreakerState,
    Denial,
    RiskCode,
    RiskDecision,
    TradingState,
)
from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    CorrelationId,
    ExecutionId,
    InstrumentId,
    Side,
)
from ordergate.ports.event_publisher import EventPublisher

__all__ = ["PublisherContract", "PublisherHarness", "sample_events"]

TIMEOUT = 5.0


class PublisherHarness(Protocol):
    """Controls around one `EventPublisher` under test, with one subscriber attached."""

    publisher: EventPublisher

    async def received(self, count: int, *, timeout: float) -> list[LifecycleEvent]:
        """What the subscriber (attached when the harness was made) received, in arrival order,
        once it has at least `count` events or `timeout` seconds have passed."""

    async def close(self) -> None:
        """Release everything."""


def sample_events(correlation: str = "corr-sample") -> list[LifecycleEvent]:
    """One event of every lifecycle type, all with the same correlation id."""
    ts = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
    cid = CorrelationId(correlation)
    coid = ClientOrderId("C-1")
    fill = ExecutionFill(
        coid,
        ExecutionId("E-1"),
        InstrumentId("AAPL"),
        Side.BUY,
        Decimal(10),
        Decimal("100.25"),
        ts_event=ts,
        ts_init=ts,
        commission=Decimal("1.00"),
        broker_order_id=BrokerOrderId("7"),
        correlation_id=cid,
    )
    decision = RiskDecision(
        client_order_id=coid,
        approved=False,
        ts=ts,
        correlation_id=cid,
        denials=(Denial(RiskCode.MAX_POSITION, "position limit", "100", "150"),),
        inputs=(("quote", "100.25"),),
    )
    return [
        OrderLifecycleEvent(
            coid,
            OrderEventKind.ACCEPTED,
            ts_event=ts,
            ts_init=ts,
            broker_order_id=BrokerOrderId("7"),
            correlation_id=cid,
        ),
        fill,
        CommissionReport(
            ExecutionId("E-1"), Decimal("1.00"), ts_event=ts, ts_init=ts, correlation_id=cid
        ),
        PositionSnapshot(
            InstrumentId("AAPL"),
            Decimal(10),
            Decimal("100.25"),
            ts_event=ts,
            ts_init=ts,
            correlation_id=cid,
        ),
        PnLSnapshot(
            Decimal("12.5"),
            Decimal("-3"),
            Decimal("1.00"),
            Decimal("100012.5"),
            ts_event=ts,
            ts_init=ts,
            correlation_id=cid,
        ),
        RiskDecisionMade(decision, ts_event=ts, ts_init=ts, correlation_id=cid),
        BreakerTripped(
            "daily_loss",
            "loss 2.1% > 2%",
            BreakerState.CLOSED,
            ts_event=ts,
            ts_init=ts,
            correlation_id=cid,
        ),
        BreakerReset(
            "daily_loss",
            BreakerState.HALF_OPEN,
            BreakerState.OPEN,
            ts_event=ts,
            ts_init=ts,
            correlation_id=cid,
        ),
        TradingStateChanged(
            TradingState.REDUCING,
            TradingState.ACTIVE,
            "breaker open",
            ts_event=ts,
            ts_init=ts,
            correlation_id=cid,
        ),
        ConnectionStateChanged(
            ConnectionState.DEGRADED,
            ConnectionState.CONNECTED,
            ts_event=ts,
            ts_init=ts,
            detail="1100",
            code=1100,
            correlation_id=cid,
        ),
        ReconciliationDiff(
            "position", "AAPL", "10", "12", ts_event=ts, ts_init=ts, correlation_id=cid
        ),
        FillRecovered(fill, ts_event=ts, ts_init=ts, correlation_id=cid),
    ]


class PublisherContract:
    """Published events reach subscribers unchanged, in publish order per correlation id."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs under asyncio_mode=strict

    async def test_published_event_reaches_the_subscriber(
        self, publisher_harness: PublisherHarness
    ) -> None:
        event = sample_events()[0]
        await publisher_harness.publisher.publish(event)
        assert [event] == await publisher_harness.received(1, timeout=TIMEOUT)

    async def test_every_lifecycle_event_type_arrives_unchanged(
        self, publisher_harness: PublisherHarness
    ) -> None:
        events = sample_events()
        for event in events:
            await publisher_harness.publisher.publish(event)
        assert events == await publisher_harness.received(len(events), timeout=TIMEOUT)

    async def test_events_of_one_correlation_arrive_in_publish_order(
        self, publisher_harness: PublisherHarness
    ) -> None:
        ts = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
        events = [
            OrderLifecycleEvent(
                ClientOrderId(f"C-{n}"),
                OrderEventKind.ACCEPTED,
                ts_event=ts,
                ts_init=ts,
                correlation_id=CorrelationId("ordered"),
            )
            for n in range(50)
        ]
        for event in events:
            await publisher_harness.publisher.publish(event)
        assert events == await publisher_harness.received(50, timeout=TIMEOUT)
