"""The `SignalSource` port: signals in, at-least-once, acknowledged after processing.

Contract: `receive` returns up to `max_count` deliveries, waiting at most `timeout` seconds (an
empty list when none came); a delivery not acknowledged with `ack` is delivered again (to this or
another consumer) — consumers are idempotent by `signal_id`. Malformed messages are returned as
`SignalDelivery` with `signal=None` and an `error`, never raised: any failure to parse one message
concerns that delivery alone, and the others of the batch are delivered as usual. A consumer
that will not act on a delivery (malformed, or a signal refused at the edge) records why and
calls `quarantine`: the delivery is acknowledged and a copy, with the reason, is kept in the
source's bounded dead-letter store for an operator to inspect.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from ordergate.domain.signals import Signal

__all__ = ["SignalDelivery", "SignalSource"]


@attrs.frozen
class SignalDelivery:
    """One delivered message: the parsed signal, or the reason it could not be parsed."""

    delivery_id: str
    signal: Signal | None
    error: str = ""
    raw: str = ""


@runtime_checkable
class SignalSource(Protocol):
    """A queue of signals with acknowledgement."""

    async def receive(self, *, max_count: int, timeout: float) -> list[SignalDelivery]:
        """Up to `max_count` deliveries, waiting at most `timeout` seconds."""

    async def ack(self, delivery_id: str) -> None:
        """Mark a delivery processed; it will not be delivered again."""

    async def quarantine(self, delivery_id: str, reason: str) -> None:
        """Acknowledge a delivery that will not be acted on, keeping a copy of what arrived and
        `reason` in the bounded dead-letter store. Repeats (and acked ids) are harmless: at most
        one copy per delivery."""

    async def close(self) -> None:
        """Release the transport."""
