"""The `SignalSource` port: signals in, at-least-once, acknowledged after processing.

Contract: `receive` returns up to `max_count` deliveries, waiting at most `timeout` seconds (an
empty list when none came); a delivery not acknowledged with `ack` is delivered again (to this or
another consumer) — consumers are idempotent by `signal_id`. Malformed messages are returned as
`SignalDelivery` with `signal=None` and an `error` so the consumer can record and ack them.
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

    async def close(self) -> None:
        """Release the transport."""
