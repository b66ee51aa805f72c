"""Parity mode (seed 002 phase 4, dual-run): a shadow gate in `dry_run` beside the primary.

`SignalService(..., shadow=gate)` hands every signal the primary gate decided to the shadow gate
too, then compares what each decided for it: the approved/denied outcome of each order, the
denial reason codes, and the order requests (instrument, side, quantity, type, prices, time in
force). The comparison is appended to the **primary** audit log as one `parity.comparison`
record per signal (`match` true/false and the differences), which the Prometheus metrics count
(`ordergate_parity_signals_total{outcome="match|mismatch"}`) and the dashboard shows.

The shadow gate is built in `dry_run` (full gate, nothing sent, SIMULATED results) with its own
audit log: the primary audit holds only the comparison records. A shadow that raises is a
mismatch naming the error; it never changes what the primary did or whether its delivery is
acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ordergate.application.facade import OrderGate
from ordergate.domain.signals import Signal
from ordergate.domain.values import CorrelationId

__all__ = ["COMPARED_FIELDS", "PARITY_RECORD", "compare_decisions", "signal_decisions"]

PARITY_RECORD = "parity.comparison"
"""The audit record kind of one signal's comparison."""

COMPARED_FIELDS = (
    "instrument",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "stop_price",
    "trail_amount",
    "trail_percent",
    "time_in_force",
    "intent",
)
"""The fields of each order request that must be equal (client order ids may differ)."""


async def signal_decisions(gate: OrderGate, signal: Signal) -> list[dict[str, Any]]:
    """What `gate` decided for `signal`, one entry per order in decision order: `approved`, the
    sorted denial `reasons`, and the `COMPARED_FIELDS` of its request (from its audit log)."""
    correlation = signal.correlation_id or CorrelationId(signal.signal_id.value)
    sid = signal.signal_id.value
    decisions = []
    for entry in await gate.audit_entries(kind="risk.decision", correlation_id=correlation):
        payload = entry.record.payload
        request = payload.get("request")
        if not isinstance(request, Mapping) or request.get("signal_id") != sid:
            continue
        decisions.append(
            {
                "approved": bool(payload.get("approved")),
                "reasons": sorted(str(d.get("code")) for d in payload.get("denials", ())),
                "request": {name: request.get(name) for name in COMPARED_FIELDS},
            }
        )
    return decisions


def compare_decisions(
    primary: Sequence[Mapping[str, Any]], shadow: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The differences between two gates' decisions on one signal (empty: they agree)."""
    differences = []
    if len(primary) != len(shadow):
        differences.append(f"orders: primary {len(primary)}, shadow {len(shadow)}")
    for index, (ours, theirs) in enumerate(zip(primary, shadow, strict=False)):
        if ours["approved"] != theirs["approved"]:
            differences.append(
                f"order {index} approved: primary {ours['approved']}, shadow {theirs['approved']}"
            )
        if ours["reasons"] != theirs["reasons"]:
            differences.append(
                f"order {index} reasons: primary {','.join(ours['reasons']) or '-'}, "
                f"shadow {','.join(theirs['reasons']) or '-'}"
            )
        for name in COMPARED_FIELDS:
            a, b = ours["request"].get(name), theirs["request"].get(name)
            if a != b:
                differences.append(f"order {index} {name}: primary {a}, shadow {b}")
    return differences
