"""The `Metrics` port: what the gate reports to a metrics backend while it trades.

The gate calls it on its hot paths, so an adapter must record in well under 2 µs and never
block, raise or wait (`bench/bench_observability.py` measures it). Three calls cover it:

- `audit_appended(records, seconds)`: every durable audit write, with its latency. The audit
  log is the record of what happened, so counters derived from the records (decisions and
  denials by reason, fills, commissions, breaker trips, trading-state changes, reconnects,
  publisher outages, order terminal states, broker rejections) equal what the log holds.
- `audit_failed(error)`: an audit write raised (the caller stops what it was doing).
- `signal_handled(outcome, seconds)`: one signal delivery dealt with by the service, from the
  moment it was taken to its audited outcome (which includes the broker's submit call);
  `outcome` is one of `SIGNAL_OUTCOMES`.
- `event_lag(seconds)`: how long a broker event waited between the adapter creating it and the
  event pump recording it.

Gauges (trading state, breakers, positions, PnL...) are read from the gate when scraped, not
pushed, so they cost trading nothing. `NULL_METRICS` records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ordergate.domain.audit import AuditRecord

__all__ = ["NULL_METRICS", "SIGNAL_OUTCOMES", "Metrics", "NullMetrics"]

SIGNAL_OUTCOMES = ("approved", "denied", "malformed", "duplicate", "rejected", "failed")
"""How a signal delivery ended: at least one order approved; every order denied by the gate;
not parseable; seen before; refused at the edge (its time); could not be dealt with."""


@runtime_checkable
class Metrics(Protocol):
    """Receives the gate's measurements; must never block, raise or wait."""

    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        """`records` were made durable in one write that took `seconds`."""

    def audit_failed(self, error: str) -> None:
        """An audit write raised `error`."""

    def signal_handled(self, outcome: str, seconds: float) -> None:
        """A signal delivery ended with `outcome` (one of `SIGNAL_OUTCOMES`) after `seconds`."""

    def event_lag(self, seconds: float) -> None:
        """A broker event reached the event pump `seconds` after it was created."""


class NullMetrics:
    """Records nothing (the default)."""

    def audit_appended(self, records: Sequence[AuditRecord], seconds: float) -> None:
        """Nothing."""

    def audit_failed(self, error: str) -> None:
        """Nothing."""

    def signal_handled(self, outcome: str, seconds: float) -> None:
        """Nothing."""

    def event_lag(self, seconds: float) -> None:
        """Nothing."""


NULL_METRICS = NullMetrics()
