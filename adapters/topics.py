"""One topic naming scheme for every `EventPublisher` (Redis streams and in memory).

An event goes to the topic of its type (`TOPIC_NAMES`), under an optional prefix:
`Topics(prefix).for_event(event)` is `"<prefix>:<name>"`, or just `"<name>"` with no prefix
(the default, so seed 002's `positions:stream` and `pnl:stream` are the stream names as they
stand). Every event also goes, in publish order, to `Topics.all_events` (`events:stream`).
docs/events.md lists the topics and each event's JSON Schema.
"""

from __future__ import annotations

from typing import Final

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.events import (
    BreakerReset,
    BreakerTripped,
    CommissionReport,
    ConnectionStateChanged,
    ExecutionFill,
    FillRecovered,
    LifecycleEvent,
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OrderLifecycleEvent,
    PnLSnapshot,
    PositionSnapshot,
    ReconciliationDiff,
    RiskDecisionMade,
    TradingStateChanged,
)

__all__ = ["ALL_EVENTS", "TOPIC_NAMES", "Topics"]

TOPIC_NAMES: Final[dict[type, str]] = {
    OrderLifecycleEvent: "orders:lifecycle",
    ExecutionFill: "orders:fills",
    FillRecovered: "orders:fills",
    CommissionReport: "orders:commissions",
    OptionExercised: "orders:settlements",
    OptionAssigned: "orders:settlements",
    OptionExpired: "orders:settlements",
    PositionSnapshot: "positions:stream",
    PnLSnapshot: "pnl:stream",
    RiskDecisionMade: "risk:decisions",
    BreakerTripped: "risk:breakers",
    BreakerReset: "risk:breakers",
    TradingStateChanged: "risk:trading_state",
    ConnectionStateChanged: "broker:connection",
    ReconciliationDiff: "broker:reconciliation",
}
"""The topic of each event type, without prefix."""

ALL_EVENTS: Final = "events:stream"
"""The topic that holds every event, in publish order."""


def _prefix(inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or value.endswith(":") or any(c.isspace() for c in value):
        raise InvalidValue("publisher.prefix", value, "must be text without spaces or a final ':'")


@attrs.frozen
class Topics:
    """The topic names under `prefix` ("" for none)."""

    prefix: str = attrs.field(default="", validator=_prefix)

    def name(self, topic: str) -> str:
        """`topic` under the prefix."""
        return f"{self.prefix}:{topic}" if self.prefix else topic

    def for_event(self, event: LifecycleEvent) -> str:
        """The topic `event` is published on."""
        topic = TOPIC_NAMES.get(type(event))
        if topic is None:
            raise InvalidValue("EventPublisher.publish.event", event, "is not a lifecycle event")
        return self.name(topic)

    @property
    def all_events(self) -> str:
        return self.name(ALL_EVENTS)

    def every_topic(self) -> list[str]:
        """Every per-type topic under the prefix (sorted, once each)."""
        return sorted({self.name(t) for t in TOPIC_NAMES.values()})
