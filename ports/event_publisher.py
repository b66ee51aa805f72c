"""The `EventPublisher` port: lifecycle events out to subscribers (dashboards, other services).

Contract: `publish` returns once the event is accepted by the transport; events of one
correlation id are delivered to subscribers in publish order; a publisher failure raises
`BrokerError`-independent `OrdergateError` subclasses and never loses the caller's state (events
are regenerable from the audit log and the broker).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ordergate.domain.events import LifecycleEvent

__all__ = ["EventPublisher"]


@runtime_checkable
class EventPublisher(Protocol):
    """Publishes lifecycle events."""

    async def publish(self, event: LifecycleEvent) -> None:
        """Publish one event (the topic follows from its type)."""

    async def close(self) -> None:
        """Flush and release the transport."""
