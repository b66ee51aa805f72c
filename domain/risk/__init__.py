"""Pre-trade risk: limits, rules returning decisions, circuit breakers and trading state."""

import importlib
from typing import TYPE_CHECKING, Any

from ordergate.domain.risk.decision import (
    ApprovedOrder,
    BreakerState,
    Denial,
    RiskCode,
    RiskDecision,
    TradingState,
)
from ordergate.domain.risk.gate import DEFAULT_RULES, GateRule, RiskGate, evaluate
from ordergate.domain.risk.limits import InstrumentLimits, RiskLimits, Rule
from ordergate.domain.risk.rules import (
    ExposureBook,
    InstrumentExposure,
    RiskContext,
    RuleFn,
    new_risk_rule,
)

if TYPE_CHECKING:
    from ordergate.domain.risk.breakers import (
        BreakerBoard,
        BreakerConfig,
        BreakerEvent,
        BreakerKind,
        CircuitBreaker,
        KillSwitchEngaged,
        TradingStateMachine,
    )

# `breakers` builds events from `ordergate.domain.events`, which itself imports
# `ordergate.domain.risk.decision` (and so this package): loading `breakers` here eagerly would
# make `import ordergate.domain.events` circular. Its names are loaded on first use instead.
_BREAKER_NAMES = frozenset(
    {
        "BreakerBoard",
        "BreakerConfig",
        "BreakerEvent",
        "BreakerKind",
        "CircuitBreaker",
        "KillSwitchEngaged",
        "TradingStateMachine",
    }
)


def __getattr__(name: str) -> Any:
    if name in _BREAKER_NAMES:
        return getattr(importlib.import_module("ordergate.domain.risk.breakers"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_RULES",
    "ApprovedOrder",
    "BreakerBoard",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerKind",
    "BreakerState",
    "CircuitBreaker",
    "Denial",
    "ExposureBook",
    "GateRule",
    "InstrumentExposure",
    "InstrumentLimits",
    "KillSwitchEngaged",
    "RiskCode",
    "RiskContext",
    "RiskDecision",
    "RiskGate",
    "RiskLimits",
    "Rule",
    "RuleFn",
    "TradingState",
    "TradingStateMachine",
    "evaluate",
    "new_risk_rule",
]
