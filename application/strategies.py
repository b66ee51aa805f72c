"""A user's strategy by reference: `package.module:Class` (`ordergate run --strategy`,
`[session] strategy`).

The class is imported and called with one argument, the session's instruments (a list of
`Stock`); the object it returns must satisfy the `Strategy` protocol (`name`, `instruments`,
`decide(snapshot, position, now)`). Every failure is an `InvalidValue` naming
`session.strategy`, the reference and what went wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from ordergate.application.session import Strategy
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument

__all__ = ["load_strategy"]

FIELD = "session.strategy"


def load_strategy(reference: str, instruments: Sequence[Instrument]) -> Strategy:
    """Import `reference` (`package.module:Class`) and build it on `instruments`."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InvalidValue(FIELD, reference, "must be package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidValue(
            FIELD, reference, f"cannot import {module_name} ({error}); is it on PYTHONPATH?"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise InvalidValue(FIELD, reference, f"{module_name} has no class {attribute}")
    try:
        strategy = factory(list(instruments))
    except Exception as error:
        raise InvalidValue(
            FIELD,
            reference,
            f"{attribute}(instruments) failed: {type(error).__name__}: {error}",
        ) from None
    missing = [name for name in ("name", "instruments", "decide") if not hasattr(strategy, name)]
    if missing or not callable(strategy.decide):
        raise InvalidValue(
            FIELD,
            reference,
            f"is not a Strategy (missing {', '.join(missing) or 'a callable decide'}; "
            "see docs/strategies.md)",
        )
    if not isinstance(strategy.name, str) or not strategy.name:
        raise InvalidValue(FIELD, reference, "its name must be a non-empty string")
    checked: Strategy = strategy
    return checked
